/**
 * NVMe completion statuses the engine can produce, and the errno Linux reports for each
 * when the command comes from a ZNS block device (nvme_error_status → blk_status → errno).
 * Codes are the 11-bit SCT|SC value (0x1xx = command specific); DNR is not included.
 */

export type ErrnoName =
  | 'EIO'
  | 'EINVAL'
  | 'EOVERFLOW'
  | 'ETOOMANYREFS'
  | 'EOPNOTSUPP'
  | 'ENODATA';

/** Linux errno numbers, so the engine needs no Node import to report them. */
export const ERRNO: Readonly<Record<ErrnoName, number>> = {
  EIO: 5,
  EINVAL: 22,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ETOOMANYREFS: 109,
};

export interface NvmeStatus {
  readonly code: number;
  /** The name the NVMe specification gives the status. */
  readonly name: string;
  readonly errno: ErrnoName;
}

function status(code: number, name: string, errno: ErrnoName): NvmeStatus {
  return Object.freeze({ code, name, errno });
}

export const Status = Object.freeze({
  INVALID_OPCODE: status(0x001, 'Invalid Command Opcode', 'EOPNOTSUPP'),
  // Linux maps Invalid Field to EOPNOTSUPP; the product contract (PRODUCT.md §3) wants EINVAL
  // for malformed or misdirected requests, which is what a file interface user expects.
  INVALID_FIELD: status(0x002, 'Invalid Field in Command', 'EINVAL'),
  LBA_OUT_OF_RANGE: status(0x080, 'LBA Out of Range', 'EIO'),
  INVALID_ZONE_OP: status(0x1b6, 'Invalid Zone Operation Request', 'EIO'),
  ZRWA_UNAVAILABLE: status(0x1b7, 'ZRWA Resources Unavailable', 'EIO'),
  ZONE_BOUNDARY_ERROR: status(0x1b8, 'Zone Boundary Error', 'EIO'),
  ZONE_FULL: status(0x1b9, 'Zone Is Full', 'EIO'),
  ZONE_READ_ONLY: status(0x1ba, 'Zone Is Read Only', 'EIO'),
  ZONE_OFFLINE: status(0x1bb, 'Zone Is Offline', 'EIO'),
  ZONE_INVALID_WRITE: status(0x1bc, 'Zone Invalid Write', 'EIO'),
  TOO_MANY_ACTIVE: status(0x1bd, 'Too Many Active Zones', 'EOVERFLOW'),
  TOO_MANY_OPEN: status(0x1be, 'Too Many Open Zones', 'ETOOMANYREFS'),
  INVALID_TRANSITION: status(0x1bf, 'Invalid Zone State Transition', 'EIO'),
  WRITE_FAULT: status(0x280, 'Write Fault', 'EIO'),
  UNRECOVERED_READ_ERROR: status(0x281, 'Unrecovered Read Error', 'EIO'),
});

export type StatusKey = keyof typeof Status;

/** A command the device refused. Nothing in the namespace changed. */
export interface Rejection {
  readonly status: NvmeStatus;
  /** What the operation was, e.g. "write", "zone open". */
  readonly op: string;
  /** Zone index the command addressed, or -1 when it addressed none (select all, bad LBA). */
  readonly zone: number;
  /** First LBA of the request. */
  readonly lba: number;
  /** The zone's write pointer (absolute LBA) when the command was refused, or -1. */
  readonly wp: number;
  /** One sentence for logs and the `errors` file. */
  readonly detail: string;
}

export function errnoOf(r: Rejection): number {
  return ERRNO[r.status.errno];
}

export function hex(code: number): string {
  return '0x' + code.toString(16).padStart(3, '0');
}

/** "Zone Invalid Write (0x1bc): write at LBA 4096 but the write pointer is 4104" */
export function describeRejection(r: Rejection): string {
  return `${r.status.name} (${hex(r.status.code)}): ${r.detail}`;
}

/** Throwable form of a Rejection, for APIs that prefer exceptions. */
export class ZoneError extends Error {
  readonly rejection: Rejection;
  readonly status: NvmeStatus;
  readonly errno: ErrnoName;
  readonly code: string;
  constructor(rejection: Rejection) {
    super(describeRejection(rejection));
    this.name = 'ZoneError';
    this.rejection = rejection;
    this.status = rejection.status;
    this.errno = rejection.status.errno;
    this.code = rejection.status.errno;
  }
}
