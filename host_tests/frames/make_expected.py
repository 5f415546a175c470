#!/usr/bin/env python3
"""Write expected.jsonl: the reading each corpus frame should decode to, built WITHOUT our decoder.

Run (CPython, amshan 2.1.1 from the dev venv):  .venv/bin/python host_tests/frames/make_expected.py
Input corpus.jsonl (copied unchanged from ../shared/frames/, provenance in SOURCES.md). Output, one line per
record in corpus order: {"id", "reading": {field: value} | null, "sources": {field: source}, "notes"}.

Readings use DESIGN.md section 3 names and units: W/var integers; A, V, kWh, kvarh, power factor floats;
strings without NULs and surrounding blanks (empty = absent); meter_datetime "YYYY-MM-DDTHH:MM:SS", the
meter's local fields with offset and hundredths dropped. A reading holds only the fields its frame carries.

Method: each field from up to three independent sources, all cross-checked.
  corpus   - values a public source states for this frame (the record's `expected`), keys mapped to ours
             (active_energy_import_Wh -> active_power_import_total in kWh, list_version -> list_ver_id, ...).
  amshan   - amshan's AutoDecoder on the information field (E6 E7 00 ...); Wh -> kWh, tz offset dropped.
             Its meter_manufacturer only names the decoder that matched (L+G decodes as "Aidon"): unused;
             if that decoder is not the one for the frame's layout, the whole result is discarded.
  protocol - the small A-XDR walk below, from protocol.md sections 3-5 only: the sent scaler for Aidon/L+G;
             fixed scaling for Kaifa (I 0.001 A, U 0.1 V, E 1 Wh) and Kamstrup (I 0.01 A, U 1 V, E 10 Wh,
             power factor 0.01; also for SE/DK/CH Kamstrup, as the product is Norwegian). meter_datetime is
             the body clock where there is one (list 3, Kamstrup hourly, Swedish lists), else the APDU time.
             meter_manufacturer comes from the list id, or the layout for Kaifa list 1.
Sources must agree (tolerance 0.006 against amsreader's golden values, printed with 2-3 decimals; else
exact). The stored value is the frame's exact value, credited to the first of corpus > amshan > protocol
that gives it exactly. Disagreements are printed and explained in "notes". Encrypted (DB), block transfer
(E0), bad-CRC and undecodable non-NVE frames get reading null and a note with the reason.
"""
import json
import pathlib
import sys
from collections import Counter
from datetime import datetime
from decimal import Decimal

HERE = pathlib.Path(__file__).resolve().parent
sys.path = [p for p in sys.path if "firmware" not in p]  # our own package is also called `han`
from han.autodecoder import AutoDecoder  # noqa: E402  (amshan, the independent CPython decoder)
import han  # noqa: E402
assert "site-packages" in han.__file__, f"wrong `han` imported: {han.__file__}"

# OBIS C.D.E -> reading field (DESIGN.md section 3, protocol.md section 5; amshan's names for extras).
NAMES = {(0, 2, 129): "list_ver_id", (96, 1, 0): "meter_id", (0, 0, 5): "meter_id",
         (96, 1, 7): "meter_type", (96, 1, 1): "meter_type", (1, 0, 0): "meter_datetime",
         (1, 7, 0): "active_power_import", (2, 7, 0): "active_power_export",
         (3, 7, 0): "reactive_power_import", (4, 7, 0): "reactive_power_export",
         (1, 8, 0): "active_power_import_total", (2, 8, 0): "active_power_export_total",
         (3, 8, 0): "reactive_power_import_total", (4, 8, 0): "reactive_power_export_total",
         (13, 7, 0): "power_factor"}
for n, c in (("l1", 0), ("l2", 20), ("l3", 40)):
    NAMES.update({(31 + c, 7, 0): "current_" + n, (32 + c, 7, 0): "voltage_" + n,
                  (21 + c, 7, 0): "active_power_import_" + n, (22 + c, 7, 0): "active_power_export_" + n,
                  (23 + c, 7, 0): "reactive_power_import_" + n, (24 + c, 7, 0): "reactive_power_export_" + n,
                  (33 + c, 7, 0): "power_factor_" + n,
                  (21 + c, 8, 0): "active_power_import_%s_total" % n,
                  (22 + c, 8, 0): "active_power_export_%s_total" % n})
MAKER = {"AIDON_V0001": "Aidon", "KFM_001": "Kaifa", "Kamstrup_V0001": "Kamstrup", "EMBRIQ_V1_1": "Landis+Gyr"}
KAIFA_3P = ["list_ver_id", "meter_id", "meter_type", "active_power_import", "active_power_export",
            "reactive_power_import", "reactive_power_export", "current_l1", "current_l2", "current_l3",
            "voltage_l1", "voltage_l2", "voltage_l3", "meter_datetime", "active_power_import_total",
            "active_power_export_total", "reactive_power_import_total", "reactive_power_export_total"]
KAIFA_1P = KAIFA_3P[:8] + ["voltage_l1"] + KAIFA_3P[13:]  # protocol.md 4.2: 9 (list 2) / 14 (list 3)
ORDER = (["list_ver_id", "meter_manufacturer", "meter_id", "meter_type", "meter_datetime"]  # output order
         + [f for f in KAIFA_3P if f not in ("list_ver_id", "meter_id", "meter_type", "meter_datetime")]
         + sorted(set(NAMES.values()) - set(KAIFA_3P)))


class NoReading(Exception):
    """The frame carries no decodable NVE reading; the message is the note."""


def is_power(f):  # W / var fields are integers
    return f.startswith(("active_power", "reactive_power")) and not f.endswith("_total")


def unit_code(f):  # DLMS unit enum a scaler-unit must carry for field f (protocol.md 3.3)
    if f.startswith(("current", "voltage", "power_factor")):
        return {"c": 33, "v": 35, "p": 255}[f[0]]
    base = 27 if f.startswith("active") else 29  # W / var
    return base + 3 if f.endswith("_total") else base  # Wh 30 / varh 32


def norm(f, v):
    """One representation per field: str stripped of NULs/space, int W/var, float rounded to 1e-6."""
    if isinstance(v, str):
        return v.replace("\x00", "").strip() or None
    return int(v) if is_power(f) else round(float(v), 6)


def cosem_datetime(b):  # 12-byte COSEM date-time -> local 'YYYY-MM-DDTHH:MM:SS' (protocol.md 3.4)
    assert len(b) == 12 and 1 <= b[2] <= 12 and 1 <= b[3] <= 31 and b[5] < 24 and b[6] < 60 and b[7] < 60
    return f"{b[0] << 8 | b[1]:04d}-{b[2]:02d}-{b[3]:02d}T{b[5]:02d}:{b[6]:02d}:{b[7]:02d}"


# ---------------------------------------------------------------- protocol source: frame -> fields
def information_field(rec):
    raw = bytes.fromhex(rec["hex"])
    if rec["format"] == "llc_pdu":
        return raw
    assert raw[0] == raw[-1] == 0x7E and raw[1] >> 4 == 0xA and ((raw[1] & 7) << 8 | raw[2]) == len(raw) - 2
    i = 3
    for _ in range(2):  # destination and source address: bytes until one with LSB 1
        while not raw[i] & 1:
            i += 1
        i += 1
    return raw[i + 3:-3]  # skip control + HCS; drop FCS + closing flag


FIXED = {0x03: 1, 0x05: 4, 0x06: 4, 0x0F: 1, 0x10: 2, 0x11: 1, 0x12: 2, 0x14: 8, 0x15: 8, 0x16: 1}
SIGNED = {0x05, 0x0F, 0x10, 0x14}


def read_data(b, i):
    """One A-XDR Data at b[i]: null -> None, array/structure -> list, octet-string -> bytes,
    visible-string -> str, integer types -> int. Returns (value, next index)."""
    tag, i = b[i], i + 1
    if tag == 0x00:
        return None, i
    if tag in (0x01, 0x02, 0x09, 0x0A):
        n, i = b[i], i + 1
        if n & 0x80:  # BER long form length
            n, i = int.from_bytes(b[i:i + (n & 0x7F)], "big"), i + (n & 0x7F)
        if tag == 0x09:
            return b[i:i + n], i + n
        if tag == 0x0A:
            return b[i:i + n].decode("ascii"), i + n
        items = []
        for _ in range(n):
            v, i = read_data(b, i)
            items.append(v)
        return items, i
    if tag in FIXED:
        return int.from_bytes(b[i:i + FIXED[tag]], "big", signed=tag in SIGNED), i + FIXED[tag]
    raise NoReading(f"A-XDR tag 0x{tag:02X} not expected in an NVE list")


def protocol_reading(rec):
    info = information_field(rec)
    if info[:1] == b"\xe0":
        raise NoReading("general-block-transfer continuation block (APDU E0 without LLC header): "
                        "one part of a multi-frame push, not a reading on its own")
    assert info[:3] == b"\xe6\xe7\x00", "no LLC header"
    tag = info[3]
    if tag == 0xDB:
        raise NoReading("encrypted (APDU DB, general-glo-ciphering); no key")
    if tag == 0xE0:
        what = "holding an encrypted APDU" if rec.get("encrypted") else "not encrypted"
        raise NoReading(f"general-block-transfer block (APDU E0, {what}): one part of a multi-frame push")
    assert tag == 0x0F, f"APDU tag {tag:02X}"
    i, header_time = 8, None  # skip 0F + 4-byte long-invoke-id-and-priority
    if info[i] == 0x0C:  # A-XDR octet-string length 12 (Kamstrup)
        header_time, i = cosem_datetime(info[i + 1:i + 13]), i + 13
    elif info[i:i + 2] == b"\x09\x0c":  # typed octet-string (Kaifa, 2017 Kamstrup)
        header_time, i = cosem_datetime(info[i + 2:i + 14]), i + 14
    else:  # 00: no time (Aidon, L+G)
        assert info[i] == 0x00
        i += 1
    body_tag = info[i]
    body, end = read_data(info, i)
    assert end == len(info), "trailing bytes after the body"
    out, notes = {}, []

    def name_of(obis, value):
        if tuple(obis[2:5]) not in NAMES:
            notes.append(f"OBIS {'.'.join(map(str, obis))} = {value} has no amshan name: left out")
        return NAMES.get(tuple(obis[2:5]))

    def put(name, value, scale=0, unit=None):
        if name is None:
            return
        if isinstance(value, (bytes, str)):
            out[name] = cosem_datetime(value) if name == "meter_datetime" else \
                value.decode("ascii") if isinstance(value, bytes) else value
        else:
            assert unit is None or unit == unit_code(name), (name, unit)
            v = Decimal(value).scaleb(scale)
            out[name] = v / 1000 if name.endswith("_total") else v  # Wh/varh -> kWh/kvarh

    if body_tag == 0x01:  # Aidon layout (Aidon, L+G Embriq): array of {OBIS, value[, {scaler, unit}]}
        family = "Aidon"
        for item in body:
            put(name_of(item[0], item[1]), item[1], *(item[2] if len(item) == 3 else (0, None)))
    elif body_tag == 0x02 and body and body[0] == "Kamstrup_V0001":  # list id, then OBIS/value pairs
        family, out["list_ver_id"] = "Kamstrup", body[0]
        rest = [e for e in body[1:] if e is not None]  # 1-phase null-data placeholders
        for obis, value in zip(rest[0::2], rest[1::2]):  # I and power factor 0.01, energies 10 Wh
            scale = -2 if obis[2] in (31, 51, 71, 13, 33, 53, 73) else 1 if obis[3] == 8 else 0
            put(name_of(obis, value), value, scale)
    elif body_tag == 0x02 and len(body) == 1 and isinstance(body[0], int):  # Kaifa list 1
        family, out["active_power_import"] = "Kaifa", Decimal(body[0])
    elif body_tag == 0x02 and body and body[0] == b"KFM_001":  # Kaifa positional
        family = "Kaifa"
        order = {9: KAIFA_1P, 14: KAIFA_1P, 13: KAIFA_3P, 18: KAIFA_3P}[len(body)]
        for name, value in zip(order, body):
            put(name, value, -3 if name.startswith("current") else -1 if name.startswith("voltage") else 0)
    elif body_tag == 0x02 and body and isinstance(body[0], bytes) and len(body[0]) == 6 and body[1] == b"KFM_001":
        family = "Kaifa"  # Kaifa (Sweden): alternating OBIS octet-string and value
        for obis, value in zip(body[0::2], body[1::2]):
            scale = -3 if obis[2] in (31, 51, 71) else -1 if obis[2] in (32, 52, 72) else 0
            put(name_of(obis, value), value, scale)
    else:
        raise NoReading("not an NVE list layout (a push-object-list header followed by bare values, "
                        "no scaler-unit for the registers): no decodable reading")
    if "meter_datetime" not in out and header_time:
        out["meter_datetime"] = header_time
    maker = MAKER.get(out.get("list_ver_id"), "Kaifa" if family == "Kaifa" else None)
    if maker:  # Aidon/L+G list 1 carries no identifier
        out["meter_manufacturer"] = maker
    return family, {f: norm(f, v) for f, v in out.items()}, notes


# ---------------------------------------------------------------- amshan and corpus sources
def amshan_reading(rec, family):
    try:
        d = AutoDecoder().decode_message_payload(information_field(rec))
    except Exception as e:  # amshan lets some errors through its AutoDecoder
        return {}, [f"amshan fails ({type(e).__name__} {e})"]
    if d is None:
        return {}, ["amshan decodes nothing"]
    decoder = d.pop("meter_manufacturer")
    if decoder != family:
        return {}, [f"amshan's {decoder} decoder matched this {family}-layout frame; its result is discarded"]
    out = {}
    for f, v in d.items():
        if isinstance(v, datetime):
            v = v.strftime("%Y-%m-%dT%H:%M:%S")  # local fields as sent; the tz offset is dropped
        out[f] = norm(f, v / 1000 if f.endswith("_total") else v)  # Wh -> kWh
    return out, []


def corpus_reading(rec):
    out = {}
    for k, v in (rec["expected"] or {}).items():
        if k == "list_version":
            k = "list_ver_id"
        elif k.startswith(("active_energy_", "reactive_energy_")):
            k, unit = k.rsplit("_", 1)
            k, v = k.replace("_energy_", "_power_") + "_total", v / 1000 if unit in ("Wh", "varh") else v
        elif k.rsplit("_", 1)[-1] in ("W", "var", "A", "V"):
            k = k.rsplit("_", 1)[0]
        elif k == "meter_datetime":
            v = v[:19]  # drop any "+00:00"
        else:
            assert k in ("meter_id", "meter_type"), k
        out[k] = norm(k, v)
    return out


AMSREADER = "amsreader-firmware test/test_decoder/expected_unencrypted.h"
# Disagreements understood after reading the frames and sources; each is still printed.
KNOWN = {
    ("kamstrup-se-l2-amshan-kamstrup-se", "meter_id"):
        "the corpus meter_id is the anonymised id of amshan's test copy of this body (SOURCES.md); "
        "the frame carries 5706567326590407, which is kept",
}


def agree(a, b, tol):
    return a == b if isinstance(a, str) or isinstance(b, str) else abs(a - b) <= tol


def build(rec):
    if rec["crc_ok"] is False:
        return None, {}, [], ["HDLC check failed (crc_ok false): a corrupt capture kept as a negative fixture"]
    try:
        family, proto, notes = protocol_reading(rec)
    except NoReading as e:
        return None, {}, [], [str(e)]
    amshan, amshan_notes = amshan_reading(rec, family)
    notes += amshan_notes
    corpus, rounded = corpus_reading(rec), (rec.get("expected_source") or "").startswith(AMSREADER)
    if family == "Kamstrup" and amshan.get("meter_datetime") not in (None, proto.get("meter_datetime")):
        notes.append(f"amshan reports the APDU header time {amshan.pop('meter_datetime')} for Kamstrup "
                     "even when the body has a clock; the body clock is the reading's time")
    cands = {"corpus": corpus, "amshan": amshan, "protocol": proto}
    reading, sources, disagreements = {}, {}, []
    for f in sorted(set(corpus) | set(amshan) | set(proto), key=lambda f: (ORDER + [f]).index(f)):
        have = {s: c[f] for s, c in cands.items() if f in c and c[f] is not None}
        truth = proto.get(f, amshan.get(f))
        if truth is None:  # only the corpus names this field: the frame does not carry it
            if rounded and have.get("corpus") == 0:
                notes.append(f"amsreader's {f} = 0.0 means 'not in this frame': dropped")
            elif have:
                disagreements.append((f, have))
            continue
        pairs = [(a, b) for i, a in enumerate(have) for b in list(have)[i + 1:]]
        if any(not agree(have[a], have[b], 0.006 if rounded and "corpus" in (a, b) else 1e-9) for a, b in pairs):
            disagreements.append((f, have))
        reading[f] = truth
        sources[f] = next(s for s in ("corpus", "amshan", "protocol") if s in have and agree(have[s], truth, 1e-9))
    for f, have in disagreements:
        why = KNOWN.get((rec["id"], f), "UNEXPLAINED")
        notes.append(f"disagreement on {f}: " + ", ".join(f"{s} {v!r}" for s, v in have.items()) + f" ({why})")
    if rec["country"] != "NO" and family == "Kamstrup":
        notes.append(f"Kamstrup from {rec['country']}: decoded with the Norwegian fixed scaling (I 0.01 A, U 1 V, "
                     "E 10 Wh) as the product is Norwegian")
        if rec["country"] == "SE" and "active_power_import_total" in reading:
            notes.append("Swedish registers are really Wh (amsreader issue #239): true energies are 1/10 of these")
    if rec["id"] == "kamstrup-dk-l3-ams-gh216-1":
        notes.append("CT meter: currents use the documented 0.01 A (as amsreader prints them), but the CT scale "
                     "is unconfirmed (protocol.md 4.3) and the frame suggests 0.001 A: 3 x 233 V x ~920 A = 640 kVA "
                     "against S = |2585 W, 63364 var| = 63.4 kVA (PF 0.04 as sent) on a 250 A-fuse site")
    return reading, sources, disagreements, notes


def main():
    records = [json.loads(line) for line in (HERE / "corpus.jsonl").open()]
    stats, all_disagreements = {}, []
    with (HERE / "expected.jsonl").open("w") as out:
        for rec in records:
            reading, sources, disagreements, notes = build(rec)
            out.write(json.dumps({"id": rec["id"], "reading": reading, "sources": sources,
                                  "notes": "; ".join(notes)}, ensure_ascii=False) + "\n")
            s = stats.setdefault(rec["vendor"], Counter())
            s.update(["records", "decoded" if reading is not None else "null"] + list(sources.values()))
            s["disagreements"] += len(disagreements)
            all_disagreements += [f"{rec['id']}: {f}: {have}" for f, have in disagreements]
    stats["total"] = sum(stats.values(), Counter())
    cols = ["records", "decoded", "null", "corpus", "amshan", "protocol", "disagreements"]
    print(f"{'vendor':<12}" + "".join(f"{c:>14}" for c in cols))
    for vendor, s in stats.items():
        print(f"{vendor:<12}" + "".join(f"{s[c]:>14}" for c in cols))
    print("(corpus/amshan/protocol: number of reading fields whose value is credited to that source)")
    print(f"\n{len(all_disagreements)} disagreement(s):")
    for line in all_disagreements:
        print("  " + line)


if __name__ == "__main__":
    main()
