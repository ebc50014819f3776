/**
 * The `errors` control file: the most recent rejected operations of a namespace, newest last.
 */
import { Rejection, hex } from '../engine/status.js';

export class ErrorLog {
  private readonly lines: string[] = [];
  private total = 0;

  constructor(private readonly capacity = 256) {}

  /** Record a device refusal with its NVMe status, LBA and write pointer. */
  addRejection(r: Rejection, errnoName: string): string {
    const where = r.zone >= 0 ? ` zone=${r.zone}` : '';
    const wp = r.wp >= 0 ? ` wp=${r.wp}` : '';
    return this.add(`${r.op}${where} lba=${r.lba}${wp} status=${hex(r.status.code)} "${r.status.name}" errno=${errnoName}: ${r.detail}`);
  }

  /** Record any other refusal (bad control command, file-interface rule). */
  add(text: string): string {
    const line = `${new Date().toISOString()} ${text}`;
    this.lines.push(line);
    this.total++;
    if (this.lines.length > this.capacity) this.lines.shift();
    return line;
  }

  get count(): number {
    return this.total;
  }

  text(): string {
    return this.lines.length === 0 ? '' : this.lines.join('\n') + '\n';
  }
}
