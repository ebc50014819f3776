#!/usr/bin/env python3
"""Reference reader for zonefuse sidecar files (`<name>.zmeta`), format version 1.

Written against docs/format.md, with the Python standard library only (struct, zlib), to show
that the document is enough to read a store without zonefuse's code. It decodes and validates a
sidecar of either byte order and prints the header, the zone table (with each zone's durable
write pointer), the fault block (bad LBA ranges, random mode) and a summary of the undo file
(`<name>.undo`) when there is one. With two header copies (compat bit HEADER_COPY, section 5.3)
it uses the intact copy with the highest sequence number and warns about a damaged, missing or
outdated one (section 8, item 1).

    python3 docs/read_zmeta.py STORE_DIR            every namespace in a store
    python3 docs/read_zmeta.py STORE/NAME.zmeta     one sidecar
    options: --json (machine-readable), --zones N (print at most N zone rows; default all)

Exit status 0 when every sidecar is valid, 1 with a one-line "FILE: FIELD: detail" message on the
first problem (the checks and field names are zonefuse's, in zonefuse's order: docs/format.md
section 8). Warnings (on stderr) do not change the exit status. The reader never writes anything
and takes no lock: run it on a store that is not mounted, or accept that a mounted store may be
caught between two updates.
"""
import json
import os
import struct
import sys
import zlib

MAGIC = b"ZFUSEMD\x00"
SUPPORTED_VERSION = 1
HEADER_SIZE = 4096
RECORD_SIZE = 64
BYTE_ORDER_MARK = 0x01020304
KNOWN_INCOMPAT = 0x3  # ZRWA (0x1), DEVICE_TIMERS (0x2): format.md section 5.2
COMPAT_HEADER_COPY = 0x1              # section 5.2: a second header copy is the file's last block
KNOWN_COMPAT = COMPAT_HEADER_COPY
HEADER_SEQ_OFFSET = 224               # u64 header_seq, meaningful with COMPAT_HEADER_COPY
# A header that fails on one of these is a damaged copy; any other refusal is the file's (section 8).
DAMAGE_FIELDS = {"header", "magic", "endianness", "byte order mark", "header checksum"}
KNOWN_FLAGS = 0x7F
MAX_SAFE = 2**53 - 1

FLAG_NAMES = ["CLEAN", "ZONED", "CROSS_READ", "AUTO_TRANSITION", "HOST_AWARE", "DETACHED", "VOLATILE_CACHE"]
FLAG_CLEAN, FLAG_ZONED, FLAG_HOST_AWARE, FLAG_VOLATILE_CACHE = 0x01, 0x02, 0x10, 0x40

STATE = {0x0: "NOT_WP", 0x1: "EMPTY", 0x2: "IMP_OPENED", 0x3: "EXP_OPENED", 0x4: "CLOSED",
         0xD: "READONLY", 0xE: "FULL", 0xF: "OFFLINE"}
TYPE = {0x1: "CONVENTIONAL", 0x2: "SEQ_WRITE_REQUIRED", 0x3: "SEQ_WRITE_PREFERRED"}
ATTR_NAMES = {0x01: "ZFC", 0x02: "FZR", 0x04: "RZR", 0x08: "ZRWAV", 0x80: "ZDEV"}
ZRWAV = 0x08
INCOMPAT_ZRWA, INCOMPAT_DEVICE_TIMERS = 0x1, 0x2
ZDEV = 0x80
NON_SEQ = 0x01

# Fault block (format.md section 7.2): FAULTS_SIZE bytes at faults_offset, in the file's byte order.
FAULTS_SIZE = 8192
FAULTS_MAGIC = b"ZFFAULTS"
FAULT_FIRST = 32                      # offset of the first range entry
FAULT_ENTRY = 32                      # bytes per range entry
MAX_BAD_RANGES = (FAULTS_SIZE - 4 - FAULT_FIRST) // FAULT_ENTRY   # 254
RANGE_FLAG_NAMES = {0x1: "READ", 0x2: "WRITE", 0x4: "ONCE", 0x8: "PARTIAL"}

# Undo file (format.md section 1.1): always little-endian entries of u64 offset, u32 length,
# u32 CRC-32 of the data, then the data.
UNDO_ENTRY_HEADER = 16

# (name, offset, struct code) of every header field after the byte-order code.
HEADER_FIELDS = [
    ("version", 10, "H"), ("bom", 12, "I"), ("header_size", 16, "I"), ("record_size", 20, "I"),
    ("incompat", 24, "I"), ("compat", 28, "I"), ("flags", 32, "I"), ("lba_size", 36, "I"),
    ("capacity", 40, "Q"), ("zone_size", 48, "Q"), ("zone_capacity", 56, "Q"),
    ("nr_zones", 64, "I"), ("conv_zones", 68, "I"), ("max_open", 72, "I"),
    ("max_active", 76, "I"), ("zasl", 80, "I"), ("descr_ext_size", 84, "I"),
    ("created_ms", 104, "Q"), ("mount_count", 112, "I"), ("unclean_count", 116, "I"),
    ("last_opened_ms", 120, "Q"), ("records_offset", 128, "Q"), ("ext_offset", 136, "Q"),
    ("faults_offset", 208, "Q"), ("faults_size", 216, "I"),
    ("zrwas", 256, "I"), ("zrwafg", 260, "I"), ("numzrwa", 264, "I"), ("rrl", 268, "I"), ("frl", 272, "I"),
    ("clock_offset_ms", 280, "Q"),
]
# Zone record: state, type, attrs, flags (u8), zrwa_extent (u32), wp, lbas_written (u64),
# resets, finishes, ext_crc (u32), durable_wp (u64, at 36), timer_since (u64), durable_zrwa (u32),
# 4 reserved, checksum (u32).
RECORD_BODY = "BBBBIQQIIIQQI4x"


class FormatError(Exception):
    def __init__(self, file, field, detail):
        super().__init__(f"{file}: {field}: {detail}")
        self.field, self.detail = field, detail


def warn(path, field, msg):
    print(f"{path}: warning: {field}: {msg}", file=sys.stderr)


def crc32(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def safe(v):
    """zonefuse reads a u64 of 2^53 or more as NaN, which equals nothing: None here."""
    return v if v <= MAX_SAFE else None


def layout(nr_zones, descr_ext_size):
    """(records_offset, ext_offset, faults_offset, size) of a sidecar."""
    def round_up(n):
        return -(-n // 4096) * 4096
    records_offset = HEADER_SIZE
    ext_offset = round_up(records_offset + nr_zones * RECORD_SIZE)
    faults_offset = round_up(ext_offset + nr_zones * descr_ext_size)
    return records_offset, ext_offset, faults_offset, faults_offset + FAULTS_SIZE


def decode_header(path, buf, file_size):
    if len(buf) < HEADER_SIZE:
        raise FormatError(path, "header", f"file is {len(buf)} bytes, shorter than the 4096-byte header")
    if buf[0:8] != MAGIC:
        raise FormatError(path, "magic", f"expected 'ZFUSEMD\\0', found {buf[0:8]!r}")
    code = buf[8]
    if code not in (1, 2):
        raise FormatError(path, "endianness", f"unknown byte order code {code} (1 = little, 2 = big)")
    bo = "<" if code == 1 else ">"
    h = {"endianness": "little" if code == 1 else "big"}
    for name, off, fmt in HEADER_FIELDS:
        (h[name],) = struct.unpack_from(bo + fmt, buf, off)
    # The byte-order mark first (a damaged endianness byte must not read as a newer version), then
    # the version, which decides everything after the 16-byte prefix, before the checksum.
    if h["bom"] != BYTE_ORDER_MARK:
        raise FormatError(path, "byte order mark", f"reads as 0x{h['bom']:08x}, not 0x01020304, in the declared order")
    if h["version"] > SUPPORTED_VERSION:
        raise FormatError(path, "version", f"format version {h['version']} is newer than this reader supports ({SUPPORTED_VERSION})")
    if h["version"] < 1:
        raise FormatError(path, "version", f"format version {h['version']} is invalid")
    (stored,) = struct.unpack_from(bo + "I", buf, HEADER_SIZE - 4)
    actual = crc32(buf[0:HEADER_SIZE - 4])
    if stored != actual:
        raise FormatError(path, "header checksum", f"mismatch (stored 0x{stored:08x}, computed 0x{actual:08x})")
    h["header_crc"] = stored
    if h["header_size"] != HEADER_SIZE:
        raise FormatError(path, "header size", f"{h['header_size']}, expected {HEADER_SIZE}")
    if h["record_size"] != RECORD_SIZE:
        raise FormatError(path, "record size", f"{h['record_size']}, expected {RECORD_SIZE}")
    if h["incompat"] & ~KNOWN_INCOMPAT:
        raise FormatError(path, "incompatible features", f"0x{h['incompat']:x} includes features this reader does not know")
    if h["flags"] & ~KNOWN_FLAGS:
        raise FormatError(path, "flags", f"unknown flag bits 0x{h['flags']:x}")
    zoned = bool(h["flags"] & FLAG_ZONED)
    h["zoned"] = zoned
    cap, zs = safe(h["capacity"]), safe(h["zone_size"])
    if not zoned:
        want_zones = 0
    elif cap is not None and zs and cap % zs == 0:
        want_zones = cap // zs
    else:
        want_zones = None  # not a whole number of zones
    if h["nr_zones"] != want_zones:
        shown = want_zones if want_zones is not None else "not a whole number"
        raise FormatError(path, "zone count", f"{h['nr_zones']} does not match capacity / zone size ({shown})")
    rec_off, ext_off, faults_off, size = layout(h["nr_zones"], h["descr_ext_size"])
    if safe(h["records_offset"]) != rec_off:
        raise FormatError(path, "records offset", f"{h['records_offset']}, expected {rec_off}")
    if safe(h["ext_offset"]) != ext_off:
        raise FormatError(path, "extension offset", f"{h['ext_offset']}, expected {ext_off}")
    if safe(h["faults_offset"]) != faults_off:
        raise FormatError(path, "faults offset", f"{h['faults_offset']}, expected {faults_off}")
    if h["faults_size"] != FAULTS_SIZE:
        raise FormatError(path, "faults size", f"{h['faults_size']}, expected {FAULTS_SIZE}")
    if file_size < size:
        raise FormatError(path, "file size", f"{file_size} bytes, but the layout needs {size}: the file is truncated")
    # zonefuse validates the geometry after the header (format.md section 8, item 9).
    check_geometry(path, h)
    h["uuid"] = "-".join(buf[88:104].hex()[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
    name = buf[144:208]
    h["name"] = name.split(b"\x00", 1)[0].decode("utf-8")
    h["flag_names"] = [n for i, n in enumerate(FLAG_NAMES) if h["flags"] & (1 << i)]
    h["volatile_cache"] = bool(h["flags"] & FLAG_VOLATILE_CACHE)
    has_copy = bool(h["compat"] & COMPAT_HEADER_COPY)
    (h["header_seq"],) = struct.unpack_from(bo + "Q", buf, HEADER_SEQ_OFFSET) if has_copy else (0,)
    h["min_file_size"] = size  # with HEADER_COPY, the second copy is the last block, at this offset or later
    return h


def read_header(path, f, file_size):
    """The header to use and what is wrong with the copies (format.md sections 5.3 and 8 item 1)."""
    def decode_at(off):
        f.seek(off)
        try:
            return decode_header(path, f.read(HEADER_SIZE), file_size)
        except FormatError as e:
            return e
    one = decode_at(0)
    if isinstance(one, FormatError) and one.field not in DAMAGE_FIELDS:
        raise one
    if not isinstance(one, FormatError) and not one["compat"] & COMPAT_HEADER_COPY:
        one["header_copy_offset"] = None
        return one, {"copies": 1, "used": 1, "problems": []}
    at = file_size - HEADER_SIZE   # copy 2 is the file's last block
    two = None
    if at >= HEADER_SIZE and (isinstance(one, FormatError) or at >= one["min_file_size"]):
        two = decode_at(at)
        if not isinstance(two, FormatError) and (not two["compat"] & COMPAT_HEADER_COPY or at < two["min_file_size"]):
            two = FormatError(path, "header copy", f"the block at {at} is not a second header copy")
    problems = []
    if isinstance(one, FormatError):
        if two is None or isinstance(two, FormatError):
            raise FormatError(path, one.field, one.detail + "; and no intact second copy")
        problems.append({"copy": 1, "offset": 0, "problem": f"damaged: {one.field}: {one.detail}"})
        two["header_copy_offset"] = at
        return two, {"copies": 2, "used": 2, "problems": problems}
    one["header_copy_offset"] = max(at, one["min_file_size"])
    if two is None:
        problems.append({"copy": 2, "offset": one["header_copy_offset"], "problem": f"missing: the file ends at {file_size}"})
        return one, {"copies": 2, "used": 1, "problems": problems}
    if isinstance(two, FormatError):
        problems.append({"copy": 2, "offset": at, "problem": f"damaged: {two.field}: {two.detail}"})
        return one, {"copies": 2, "used": 1, "problems": problems}
    if two["header_seq"] > one["header_seq"]:
        problems.append({"copy": 1, "offset": 0, "problem": f"older than copy 2 (sequence {one['header_seq']} < {two['header_seq']})"})
        two["header_copy_offset"] = at
        return two, {"copies": 2, "used": 2, "problems": problems}
    if two["header_seq"] < one["header_seq"]:
        problems.append({"copy": 2, "offset": at, "problem": f"older than copy 1 (sequence {two['header_seq']} < {one['header_seq']})"})
    return one, {"copies": 2, "used": 1, "problems": problems}


def check_geometry(path, h):
    lba = h["lba_size"]
    if lba < 512 or lba > 65536 or lba & (lba - 1):
        raise FormatError(path, "lbaSize", f"{lba} is not a power of two from 512 to 65536")
    cap = safe(h["capacity"])
    if not cap or cap % lba:
        raise FormatError(path, "capacity", f"{h['capacity']} is not a positive multiple of the LBA size")
    if not h["zoned"]:
        return
    zs, zc = h["zone_size"], safe(h["zone_capacity"])
    if zs % lba:
        raise FormatError(path, "zoneSize", f"{zs} is not a multiple of the LBA size")
    if not zc or zc % lba or zc > zs:
        raise FormatError(path, "zoneCapacity", f"{h['zone_capacity']} must be a positive multiple of the LBA size, at most the zone size")
    if h["conv_zones"] > h["nr_zones"]:
        raise FormatError(path, "convZones", f"{h['conv_zones']} exceeds the number of zones")
    if h["max_active"] and (h["max_open"] == 0 or h["max_open"] > h["max_active"]):
        raise FormatError(path, "maxOpen", f"{h['max_open']} exceeds max active {h['max_active']}")
    if h["zasl"] % lba:
        raise FormatError(path, "zasl", f"{h['zasl']} is not a multiple of the LBA size")
    if h["descr_ext_size"] % 64 or h["descr_ext_size"] > 16320:
        raise FormatError(path, "descrExtSize", f"{h['descr_ext_size']} is not a multiple of 64 up to 16320")


def decode_zones(path, f, h):
    bo = "<" if h["endianness"] == "little" else ">"
    n, ext_size = h["nr_zones"], h["descr_ext_size"]
    if n == 0:
        return []
    zone_lbas = h["zone_size"] // h["lba_size"]
    cap_lbas = h["zone_capacity"] // h["lba_size"]
    seq_type = 3 if h["flags"] & FLAG_HOST_AWARE else 2
    f.seek(h["records_offset"])
    table = f.read(n * RECORD_SIZE)
    zones, n_open, n_active = [], 0, 0
    for z in range(n):
        rec = table[z * RECORD_SIZE:(z + 1) * RECORD_SIZE]
        (stored,) = struct.unpack_from(bo + "I", rec, 60)
        if stored != crc32(rec[0:60]):
            raise FormatError(path, f"zone {z} record checksum", "mismatch: the zone record is corrupt")
        state, ztype, attrs, flags, zrwa_extent, wp, written, resets, finishes, ext_crc, durable, since, durable_zrwa = \
            struct.unpack_from(bo + RECORD_BODY, rec, 0)
        if not h["incompat"] & INCOMPAT_ZRWA:
            zrwa_extent, durable_zrwa = 0, 0
        if not h["incompat"] & INCOMPAT_DEVICE_TIMERS:
            since = 0
        if wp > MAX_SAFE:
            raise FormatError(path, f"zone {z} write pointer", f"{wp} is above 2^53 - 1")
        conv = z < h["conv_zones"]
        zslba = z * zone_lbas
        want_type = 1 if conv else seq_type
        if ztype != want_type:
            raise FormatError(path, f"zone {z} type", f"{ztype}, but the geometry makes it {want_type}")
        # Sequential zones only: conventional records carry zslba, which is not checked.
        if not conv and not zslba <= durable <= wp:
            raise FormatError(path, f"zone {z} durable write pointer",
                              f"{durable} is not between the zone start {zslba} and the write pointer {wp}")
        ext = None
        if attrs & ZDEV and ext_size > 0:
            f.seek(h["ext_offset"] + z * ext_size)
            ext = f.read(ext_size)
            if crc32(ext) != ext_crc:
                raise FormatError(path, f"zone {z} extension checksum", "mismatch: the descriptor extension is corrupt")
        if state not in STATE or conv != (state == 0):
            raise FormatError(path, f"zone {z} state", f"0x{state:x} is not valid for a {'conventional' if conv else 'sequential'} zone")
        if not conv:
            if wp < zslba or wp > zslba + cap_lbas:
                raise FormatError(path, f"zone {z} wp", f"write pointer {wp} is outside LBAs {zslba}..{zslba + cap_lbas}")
            if state == 0x1 and wp != zslba:
                raise FormatError(path, f"zone {z} wp", f"an empty zone has its write pointer at {wp}, not {zslba}")
            if state in (0x2, 0x3, 0x4) and wp == zslba + cap_lbas:
                raise FormatError(path, f"zone {z} wp", "an open or closed zone has its write pointer at its capacity")
        if attrs & ZDEV:
            if conv or state in (0x1, 0xF):
                raise FormatError(path, f"zone {z} attrs", f"ZDEV is set but the zone is {'conventional' if conv else STATE[state]}")
            if ext is None:
                raise FormatError(path, f"zone {z} attrs", "ZDEV is set but the namespace has no descriptor extensions")
        if attrs & ZRWAV:
            if not h["incompat"] & INCOMPAT_ZRWA:
                raise FormatError(path, f"zone {z} attrs", "ZRWAV is set but the namespace has no ZRWA support")
            if conv or state not in (0x2, 0x3, 0x4):
                raise FormatError(path, f"zone {z} attrs", f"ZRWAV is set but the zone is {'conventional' if conv else STATE[state]}")
            if wp + zrwa_extent > min(wp + h["zrwas"] // h["lba_size"], zslba + cap_lbas):
                raise FormatError(path, f"zone {z} zrwa", f"the ZRWA data ends at LBA {wp + zrwa_extent}, outside the window")
        if not conv and seq_type == 2:  # only sequential-write-required zones hold open/active resources
            n_open += state in (0x2, 0x3)
            n_active += state in (0x2, 0x3, 0x4)
        zones.append({
            "zone": z, "type": TYPE[ztype], "state": STATE[state], "zslba": zslba,
            "wp": None if conv else wp, "wp_rel": None if conv else wp - zslba,
            "durable_wp": None if conv else durable, "durable_rel": None if conv else durable - zslba,
            "zcap": zone_lbas if conv else cap_lbas,
            "attrs": attrs, "attr_names": [v for k, v in ATTR_NAMES.items() if attrs & k],
            "non_seq": bool(flags & NON_SEQ), "flags": flags, "lbas_written": written,
            "resets": resets, "finishes": finishes, "ext_crc": ext_crc,
            "zrwa_end": wp + zrwa_extent if attrs & ZRWAV else None, "timer_since_ms": since or None,
            "durable_zrwa_end": durable + durable_zrwa - 1 if durable_zrwa else None,
            "ext": None if ext is None else ext.rstrip(b"\x00").hex(),
        })
    # Too many active zones is refused. Too many open zones is not: a crash between the two record
    # writes of an implicit close can leave one extra, and the start-up transition closes them all.
    if h["max_active"] and n_active > h["max_active"]:
        raise FormatError(path, "active zones", f"{n_active} zones are active but the limit is {h['max_active']}")
    if h["max_open"] and n_open > h["max_open"]:
        warn(path, "open zones", f"{n_open} zones are open but the limit is {h['max_open']} "
             "(left by a crash; the next start-up closes every open zone)")
    return zones


def decode_faults(path, f, h):
    bo = "<" if h["endianness"] == "little" else ">"
    f.seek(h["faults_offset"])
    buf = f.read(FAULTS_SIZE)
    if buf[0:8] != FAULTS_MAGIC:
        raise FormatError(path, "faults magic", "the fault block is not initialised")
    (stored,) = struct.unpack_from(bo + "I", buf, FAULTS_SIZE - 4)
    if stored != crc32(buf[0:FAULTS_SIZE - 4]):
        raise FormatError(path, "faults checksum", "mismatch: the fault block is corrupt")
    count, flags, seed, write_one_in, read_one_in = struct.unpack_from(bo + "IIIII", buf, 8)
    if count > MAX_BAD_RANGES:
        raise FormatError(path, "faults count", f"{count} ranges, at most {MAX_BAD_RANGES} fit")
    nlba = (safe(h["capacity"]) or 0) // h["lba_size"]
    ranges = []
    for i in range(count):
        start, n, rflags = struct.unpack_from(bo + "QQI", buf, FAULT_FIRST + i * FAULT_ENTRY)
        # zonefuse does not check the entries; these only warn.
        if rflags & ~0xF:
            warn(path, f"fault range {i}", f"unknown flag bits 0x{rflags & ~0xF:x} (ignored)")
        if not rflags & 0x3:
            warn(path, f"fault range {i}", "neither READ nor WRITE is set: the range never fails anything")
        if n == 0 or start + n > nlba:
            warn(path, f"fault range {i}", f"LBAs {start}+{n} are not inside the namespace ({nlba} LBAs)")
        ranges.append({"start": start, "count": n, "flags": rflags,
                       "flag_names": [v for k, v in RANGE_FLAG_NAMES.items() if rflags & k]})
    # Random mode is on when flags bit 0 is set and at least one 1-in-N is non-zero.
    random = None
    if flags & 1 and (write_one_in or read_one_in):
        random = {"seed": seed, "write_one_in": write_one_in, "read_one_in": read_one_in}
    return {"flags": flags, "ranges": ranges, "random": random, "checksum": stored}


def read_undo(path):
    """Summary of `<name>.undo`, parsed as zonefuse replays it: stop at the first bad entry."""
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        data = f.read()
    entries, at = [], 0
    while at + UNDO_ENTRY_HEADER <= len(data):
        offset, length, crc = struct.unpack_from("<QII", data, at)
        body = data[at + UNDO_ENTRY_HEADER:at + UNDO_ENTRY_HEADER + length]
        if len(body) < length or crc32(body) != crc:
            break
        entries.append({"offset": offset, "length": length})
        at += UNDO_ENTRY_HEADER + length
    return {"file": path, "size": len(data), "entries": entries, "ignored_bytes": len(data) - at}


def read_sidecar(path):
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h, copies = read_header(path, f, size)
        for c in copies["problems"]:
            warn(path, f"header copy {c['copy']}", f"at offset {c['offset']}: {c['problem']}; the other copy is used")
        zones = decode_zones(path, f, h)
        faults = decode_faults(path, f, h)
    base = path[:-len(".zmeta")] if path.endswith(".zmeta") else path
    data = base + ".data"
    if os.path.exists(data) and os.path.getsize(data) != h["capacity"]:
        raise FormatError(data, "size", f"{os.path.getsize(data)} bytes, but the namespace capacity is {h['capacity']}")
    undo = read_undo(base + ".undo")
    if undo and undo["entries"] and not h["volatile_cache"]:
        warn(undo["file"], "undo", "pre-images are pending but VOLATILE_CACHE is clear: zonefuse will not replay them")
    return h, copies, zones, faults, undo


def print_human(path, h, copies, zones, faults, undo, limit):
    print(f"== {path}")
    order = ["name", "uuid", "endianness", "version", "flags", "volatile_cache", "incompat", "compat",
             "lba_size", "capacity", "zone_size", "zone_capacity", "nr_zones", "conv_zones", "max_open",
             "max_active", "zasl", "descr_ext_size", "created_ms", "mount_count", "unclean_count",
             "last_opened_ms", "records_offset", "ext_offset", "faults_offset", "faults_size",
             "header_seq", "header_copy_offset", "min_file_size"]
    for k in order:
        v = h[k]
        if k == "flags":
            v = f"0x{v:08x} ({' '.join(h['flag_names']) or '-'})"
        elif k == "volatile_cache":
            v = "on" if v else "off"
        elif k in ("incompat", "compat"):
            v = f"0x{v:08x}" + (" (HEADER_COPY)" if k == "compat" and v & COMPAT_HEADER_COPY else "")
        elif k == "header_copy_offset" and v is None:
            v = "- (one header copy)"
        print(f"  {k:<20} {v}")
    bad = ", ".join(f"copy {c['copy']} {c['problem']}" for c in copies["problems"])
    print(f"  {'header_copies':<20} {copies['copies']}, copy {copies['used']} used" + (f"; {bad}" if bad else ""))
    if zones:
        print(f"  {'zone':>6} {'type':<19} {'state':<10} {'zslba':>10} {'wp(rel)':>9} {'dwp(rel)':>9} {'zcap':>8} "
              f"{'attrs':<10} {'written':>9} {'resets':>6} {'finish':>6} ext")
        for d in zones[:limit]:
            wp = "-" if d["wp_rel"] is None else str(d["wp_rel"])
            dwp = "-" if d["durable_rel"] is None else str(d["durable_rel"])
            attrs = "|".join(d["attr_names"]) + ("|non-seq" if d["non_seq"] else "") or "-"
            print(f"  {d['zone']:>6} {d['type']:<19} {d['state']:<10} {d['zslba']:>10} {wp:>9} {dwp:>9} {d['zcap']:>8} "
                  f"{attrs:<10} {d['lbas_written']:>9} {d['resets']:>6} {d['finishes']:>6} {d['ext'] or '-'}")
        if len(zones) > limit:
            print(f"  ... {len(zones) - limit} more zones")
    rnd = faults["random"]
    print(f"  {'fault_ranges':<20} {len(faults['ranges'])}")
    for i, r in enumerate(faults["ranges"]):
        print(f"  {'':>6} range {i}: LBAs {r['start']}..{r['start'] + r['count'] - 1} ({r['count']}) "
              f"{'|'.join(r['flag_names']) or '-'}")
    if rnd:
        def one_in(n):
            return f"1 in {n}" if n else "never"
        print(f"  {'random_faults':<20} on: seed {rnd['seed']}, writes fail {one_in(rnd['write_one_in'])}, "
              f"reads fail {one_in(rnd['read_one_in'])}")
    else:
        print(f"  {'random_faults':<20} off")
    if undo is not None:
        pending = sum(e["length"] for e in undo["entries"])
        extra = f", {undo['ignored_bytes']} trailing bytes ignored (torn entry)" if undo["ignored_bytes"] else ""
        print(f"  {'undo':<20} {len(undo['entries'])} pre-image(s), {pending} bytes{extra}")
        for e in undo["entries"][:limit]:
            print(f"  {'':>6} bytes {e['offset']}..{e['offset'] + e['length'] - 1} of the data file")


def main(argv):
    as_json, limit, paths = False, None, []
    it = iter(argv)
    for a in it:
        if a == "--json":
            as_json = True
        elif a == "--zones":
            limit = int(next(it))
        else:
            paths.append(a)
    if len(paths) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    p = paths[0]
    if os.path.isdir(p):
        names = sorted(e for e in os.listdir(p) if e.endswith(".zmeta"))
        files = [os.path.join(p, e) for e in names]
        if not files:
            print(f"{p}: no namespaces (no *.zmeta files)", file=sys.stderr)
            return 1
    else:
        files = [p]
    out = []
    try:
        for path in files:
            h, copies, zones, faults, undo = read_sidecar(path)
            if as_json:
                out.append({"file": path, "header": h, "header_copies": copies, "zones": zones, "faults": faults, "undo": undo})
            else:
                print_human(path, h, copies, zones, faults, undo, len(zones) if limit is None else limit)
    except (FormatError, OSError, UnicodeDecodeError) as e:
        print(str(e), file=sys.stderr)
        return 1
    if as_json:
        json.dump(out, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
