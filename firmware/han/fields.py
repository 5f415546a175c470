# fields.py: the reading's field names, kinds and the OBIS codes that carry them.
# MIT license; Copyright (c) 2026 hanmq
#
# Names follow amshan's vocabulary (DESIGN.md section 3). A field id is an index into
# NAMES and KINDS; the Reading keeps one slot per id.

from array import array

from micropython import const


# Field kinds: how a value is stored and printed.
K_TEXT = const(0)
K_TIME = const(1)
K_W = const(2)  # W
K_VAR = const(3)  # var
K_A = const(4)  # A
K_V = const(5)  # V
K_WH = const(6)  # Wh inside, printed as kWh
K_VARH = const(7)  # varh inside, printed as kvarh
K_PF = const(8)  # power factor, no unit

#: Unit printed for each kind.
UNITS = ("", "", "W", "var", "A", "V", "kWh", "kvarh", "")

# Field ids used by other modules are public; the rest are private (a public const
# costs a module-dict slot in RAM, a private one nothing).
LIST_VER_ID = const(0)
METER_MANUFACTURER = const(1)
METER_ID = const(2)
METER_TYPE = const(3)
METER_DATETIME = const(4)
ACTIVE_POWER_IMPORT = const(5)
ACTIVE_POWER_EXPORT = const(6)
_REACTIVE_POWER_IMPORT = const(7)
_REACTIVE_POWER_EXPORT = const(8)
CURRENT_L1 = const(9)
_CURRENT_L2 = const(10)
_CURRENT_L3 = const(11)
VOLTAGE_L1 = const(12)
_VOLTAGE_L2 = const(13)
_VOLTAGE_L3 = const(14)
ACTIVE_POWER_IMPORT_TOTAL = const(15)
ACTIVE_POWER_EXPORT_TOTAL = const(16)
_REACTIVE_POWER_IMPORT_TOTAL = const(17)
_REACTIVE_POWER_EXPORT_TOTAL = const(18)

# Names in id order, as one string: 41 separate str constants would cost ~3 KB of
# interned strings in RAM; one string costs its length. name(fid) cuts one out.
_NAMES = (
    "list_ver_id meter_manufacturer meter_id meter_type meter_datetime "
    "active_power_import active_power_export reactive_power_import "
    "reactive_power_export current_l1 current_l2 current_l3 voltage_l1 voltage_l2 "
    "voltage_l3 active_power_import_total active_power_export_total "
    "reactive_power_import_total reactive_power_export_total power_factor "
    "power_factor_l1 power_factor_l2 power_factor_l3 active_power_import_l1 "
    "active_power_import_l2 active_power_import_l3 active_power_export_l1 "
    "active_power_export_l2 active_power_export_l3 reactive_power_import_l1 "
    "reactive_power_import_l2 reactive_power_import_l3 reactive_power_export_l1 "
    "reactive_power_export_l2 reactive_power_export_l3 active_power_import_l1_total "
    "active_power_import_l2_total active_power_import_l3_total "
    "active_power_export_l1_total active_power_export_l2_total "
    "active_power_export_l3_total"
)


def _name_starts():
    starts = array("H", [0])
    for i in range(len(_NAMES)):
        if _NAMES[i] == " ":
            starts.append(i + 1)
    starts.append(len(_NAMES) + 1)
    return starts


_STARTS = _name_starts()

COUNT = const(41)


def name(fid):
    """The field's name, e.g. name(5) == "active_power_import"."""
    return _NAMES[_STARTS[fid] : _STARTS[fid + 1] - 1]


KINDS = bytes(
    (K_TEXT, K_TEXT, K_TEXT, K_TEXT, K_TIME)
    + (K_W, K_W, K_VAR, K_VAR)
    + (K_A,) * 3
    + (K_V,) * 3
    + (K_WH, K_WH, K_VARH, K_VARH)
    + (K_PF,) * 4
    + (K_W,) * 6
    + (K_VAR,) * 6
    + (K_WH,) * 6
)

# OBIS C.D.E (A and B differ between vendors: Kamstrup uses B = 1, protocol.md 7.18)
# mapped to field ids. Key: C << 16 | D << 8 | E.
OBIS = {
    0x000281: LIST_VER_ID,  # 1.1.0.2.129.255
    0x600100: METER_ID,  # 0.0.96.1.0.255
    0x000005: METER_ID,  # Kamstrup 1.1.0.0.5.255
    0x600107: METER_TYPE,  # 0.0.96.1.7.255
    0x600101: METER_TYPE,  # Kamstrup 1.1.96.1.1.255
    0x010000: METER_DATETIME,  # clock 0.0.1.0.0.255 (Kamstrup 0.1.1.0.0.255)
    0x010700: ACTIVE_POWER_IMPORT,
    0x020700: ACTIVE_POWER_EXPORT,
    0x030700: _REACTIVE_POWER_IMPORT,
    0x040700: _REACTIVE_POWER_EXPORT,
    0x1F0700: CURRENT_L1,  # 31.7.0
    0x330700: _CURRENT_L2,  # 51.7.0
    0x470700: _CURRENT_L3,  # 71.7.0
    0x200700: VOLTAGE_L1,  # 32.7.0
    0x340700: _VOLTAGE_L2,  # 52.7.0
    0x480700: _VOLTAGE_L3,  # 72.7.0
    0x010800: ACTIVE_POWER_IMPORT_TOTAL,
    0x020800: ACTIVE_POWER_EXPORT_TOTAL,
    0x030800: _REACTIVE_POWER_IMPORT_TOTAL,
    0x040800: _REACTIVE_POWER_EXPORT_TOTAL,
    0x0D0700: 19,  # 13.7.0 power factor
    0x210700: 20,  # 33.7.0
    0x350700: 21,  # 53.7.0
    0x490700: 22,  # 73.7.0
    0x150700: 23,  # 21.7.0 P+ L1
    0x290700: 24,  # 41.7.0
    0x3D0700: 25,  # 61.7.0
    0x160700: 26,  # 22.7.0 P- L1
    0x2A0700: 27,  # 42.7.0
    0x3E0700: 28,  # 62.7.0
    0x170700: 29,  # 23.7.0 Q+ L1
    0x2B0700: 30,  # 43.7.0
    0x3F0700: 31,  # 63.7.0
    0x180700: 32,  # 24.7.0 Q- L1
    0x2C0700: 33,  # 44.7.0
    0x400700: 34,  # 64.7.0
    0x150800: 35,  # 21.8.0 A+ L1
    0x290800: 36,  # 41.8.0
    0x3D0800: 37,  # 61.8.0
    0x160800: 38,  # 22.8.0 A- L1
    0x2A0800: 39,  # 42.8.0
    0x3E0800: 40,  # 62.8.0
}
