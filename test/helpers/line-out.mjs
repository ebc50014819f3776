// Protocol lines from a child process its test may SIGKILL at any moment (test/fixtures/*-worker.mjs).
//
// Not process.stdout: when the pipe is full (a busy test process reads late) its writes queue
// inside this process, which carries on with its next operations, and a SIGKILL or
// process.exit() then loses the lines of operations that did happen. fd 1 is the blocking pipe
// end spawn() gave the child, so a synchronous write waits for room: a line is in the pipe
// before the operation it announces starts. Each line is far below PIPE_BUF, so a kill never
// leaves half a line.
import { writeSync } from 'node:fs';

export function writeLine(s) {
  const buf = Buffer.from(s + '\n');
  let done = 0;
  while (done < buf.length) {
    try {
      done += writeSync(1, buf, done);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e; // a non-blocking fd 1 (not what spawn gives): retry
    }
  }
}
