"""A small legacy company export with known defects, written to a folder, and its mapping."""

from __future__ import annotations

from pathlib import Path

MAPPING = """
[defaults]
timezone = "America/New_York"
phone_country_code = "1"

[policy]
orphans = "{orphans}"
{house}

[tables.members]
file = "members.csv"
[tables.members.columns]
member_id = "MemberID"
sponsor_id = "SponsorID"
placement_id = "PlacementID"
leg = "Leg"
status = "Status"
joined_at = "JoinDate"
email = "Email"
country = "Country"
name = "Name"
phone = "Phone"
[tables.members.values.leg]
"1" = "L"
"2" = "R"
[tables.members.values.status]
A = "active"
I = "inactive"

[tables.orders]
file = "orders.csv"
{batch_rows}
[tables.orders.columns]
order_id = "OrderID"
member_id = "MemberID"
period = "Period"
pv = "PV"
bv = "BV"
amount = "Amount"
currency = "Currency"
created_at = "Created"

[tables.wallet_transactions]
file = "wallet.ndjson"
[tables.wallet_transactions.columns]
tx_id = "id"
wallet_id = "member"
amount = "amount"
currency = "currency"
kind = "type"
created_at = "at"
reference = "ref"
"""

# Record by record (line = record + 1): what each member row is and what must happen to it.
MEMBERS = """\
MemberID,SponsorID,PlacementID,Leg,Status,JoinDate,Email,Country,Name,Phone
HOUSE,,,,A,2020-01-01 00:00:00,house@example.com,US,House Account,+1 212 555 0100
M1,HOUSE,HOUSE,1,A,2024-01-02 09:00:00,one@example.com,us,Ann One,(212) 555-0101
M2,HOUSE,HOUSE,2,I,2024-01-03 09:00:00,TWO@Example.COM,GB,Bo Two,0044 20 7946 0958
M3,M1,M1,1,A,2024-01-04 09:00:00,not-an-email,US,Cy Three,
M4,M3,M3,1,A,2024-01-05 09:00:00,four@example.com,US,Di Four,
M5,M9,M9,1,A,2024-01-06 09:00:00,five@example.com,US,Ed Five,
M6,M5,M5,1,A,2024-01-07 09:00:00,six@example.com,US,Flo Six,
M7,M6,M6,1,A,2024-01-08 09:00:00,seven@example.com,US,Gus Seven,
M8,M8,M2,1,A,2024-01-09 09:00:00,eight@example.com,US,Hal Eight,
C1,C2,C2,1,A,2024-01-10 09:00:00,c1@example.com,US,Cycle One,
C2,C1,C1,1,A,2024-01-11 09:00:00,c2@example.com,US,Cycle Two,
D1,M2,M2,1,A,2024-01-12 09:00:00,d1@example.com,US,Dup One,
D1,M2,M2,2,A,2024-01-12 09:00:00,d1@example.com,US,Dup One,
E1,M1,M1,2,A,2024-01-13 09:00:00,one@example.com,US,Same Mail,
M2,HOUSE,HOUSE,2,I,2024-01-03 09:00:00,two@example.com,GB,Bo Two,0044 20 7946 0958
Jose\u0301,M2,M2,2,A,2024-01-14 09:00:00,jose@example.com,ES,Jose\u0301 N,
José,M2,M2,2,A,2024-01-14 09:00:00,jose@example.com,ES,José N,
X1,M2,M2,1,A,bad date,x1@example.com,ZZ,Bad Country,
X2,M2,M2,1,A,2024-01-15 09:00:00,x2@example.com,US,"Ragged",1,extra
S1,M1,HOUSE,1,A,2024-01-16 09:00:00,s1@example.com,US,Slot Taken,
T1,T3,T3,1,A,2024-01-17 09:00:00,t1@example.com,US,Tri One,
T2,T1,T1,1,A,2024-01-17 09:00:00,t2@example.com,US,Tri Two,
T3,T2,T2,1,A,2024-01-17 09:00:00,t3@example.com,US,Tri Three,
U1,M1,M1,2,A,2024-01-18 09:00:00,u1@example.com,US,Bad <FF> Byte,
"""

EXPECTED_MEMBERS = {
    # record: reason (None: accepted)
    1: None, 2: None, 3: None,
    4: "bad_email", 5: "orphan_cascade",
    6: "orphan_sponsor", 7: "orphan_cascade", 8: "orphan_cascade",
    9: "self_reference",
    10: "cycle", 11: "orphan_cascade",
    12: "conflicting_duplicate", 13: "conflicting_duplicate",
    14: "duplicate_email",
    15: "duplicate_row",
    16: None, 17: "duplicate_row",
    18: "bad_timestamp",
    19: "ragged_row",
    20: "slot_taken",
    21: "cycle", 22: "orphan_cascade", 23: "orphan_cascade",
    24: "invalid_utf8",
}

ORDERS = """\
OrderID,MemberID,Period,PV,BV,Amount,Currency,Created
O1,M1,2024-01,100.00,80,120.50,USD,2024-01-05T10:00:00Z
O2,M1,2024-01,50.5,40,60.123,USD,2024-01-05T10:00:00Z
O3,M2,2024-01,10,10,1200,JPY,2024-01-05T19:00:00+09:00
O4,M2,2024-01,NaN,1,1,USD,2024-01-05T10:00:00Z
O5,M2,2024-01,1,1,1,USD,2024-01-05 10:00:00
O6,MX,2024-01,1,1,1,USD,2024-01-05T10:00:00Z
O7,M4,2024-01,1,1,1,USD,2024-01-05T10:00:00Z
O8,M1,2024-01,1e3,1,1,USD,2024-01-05T10:00:00Z
O9,M1,2024-01,99999999999999999999,1,1,USD,2024-01-05T10:00:00Z
O10,M1,2024-01,2.25,,3.5,EUR,2024-02-01T00:00:00.250+01:00
O11,HOUSE,2024-01,,1,1,USD,2024-01-05T10:00:00Z
O12,M1,2024-01,1,1,1,XYZ,2024-01-05T10:00:00Z
"""

EXPECTED_ORDERS = {
    1: None, 2: "too_many_decimals", 3: None, 4: "not_finite", 5: None, 6: "unknown_member",
    7: "unknown_member", 8: "not_a_decimal", 9: "overflow", 10: None, 11: "missing_value", 12: "bad_currency",
}

WALLET = """\
{"id": "W1", "member": "M1", "amount": 1500, "currency": "USD", "type": "commission", \
"at": "2024-01-31T00:00:00Z", "ref": null}
{"id": "W2", "member": "M1", "amount": -500, "currency": "USD", "type": "withdrawal", \
"at": "2024-02-01T00:00:00Z", "ref": "bank 1"}
not json at all
{"id": "W3", "member": "M2", "amount": 12.5, "currency": "USD", "type": "commission", "at": "2024-01-31T00:00:00Z"}
{"id": "W4", "member": "M2", "amount": "0.10", "currency": "usd", "type": "commission", "at": "2024-01-15T00:00:00Z"}

{"id": "W5", "member": "M5", "amount": 1, "currency": "USD", "type": "commission", "at": "2024-01-31T00:00:00Z"}
[1, 2]
"""

EXPECTED_WALLET = {1: None, 2: None, 3: "bad_json", 4: None, 5: None, 6: "unknown_member", 7: "not_an_object"}


COMMISSIONS = """\
Period;Member;Bonus;Amount;Currency
2023-12;M1;binary;1.234,50;USD
2023-12;M2;binary;10,00;USD
2023-12;M2;unilevel;0,5;USD
2023-12;M1;binary;1.234,50;USD
2023-12;M2;matching;12,345;USD
"""

EXPECTED_COMMISSIONS = {1: None, 2: None, 3: None, 4: "duplicate_row", 5: "too_many_decimals"}

CARRY = """\
member,bonus,period,left,right
M1,binary,2023-12,150.25,0
M2,binary,2023-12,0,99.5
M3,binary,2023-12,1,1
"""

EXPECTED_CARRY = {1: None, 2: None, 3: "unknown_member"}

RANKS = """\
member,period,rank,paid_as
M1,2023-11,Silver,Silver
M1,2023-12,Gold,Silver
M2,2023-12,Bronze,
HOUSE,2023-12,,Gold
"""

EXPECTED_RANKS = {1: None, 2: None, 3: None, 4: "missing_value"}

EXTRA_MAPPING = """
[tables.commission_history]
file = "commissions.csv"
delimiter = ";"
decimal_separator = ","
group_separator = "."
[tables.commission_history.columns]
period = "Period"
member_id = "Member"
bonus = "Bonus"
amount = "Amount"
currency = "Currency"

[tables.carry_forward]
file = "carry.csv"
[tables.carry_forward.columns]
member_id = "member"
left_carry = "left"
right_carry = "right"

[tables.rank_history]
file = "ranks.csv"
[tables.rank_history.columns]
member_id = "member"
achieved_rank = "rank"
paid_as_rank = "paid_as"
"""


def write(folder: Path, *, orphans: str = "quarantine", house: str | None = None,
          batch_rows: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "members.csv").write_bytes(MEMBERS.encode("utf-8").replace(b"<FF>", b"\xff"))
    (folder / "commissions.csv").write_text(COMMISSIONS, encoding="utf-8")
    (folder / "carry.csv").write_text(CARRY, encoding="utf-8")
    (folder / "ranks.csv").write_text(RANKS, encoding="utf-8")
    (folder / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (folder / "wallet.ndjson").write_text(WALLET, encoding="utf-8")
    mapping = MAPPING.format(orphans=orphans, house=f'house_account = "{house}"' if house else "",
                             batch_rows=f"batch_rows = {batch_rows}" if batch_rows else "") + EXTRA_MAPPING
    path = folder / "mapping.toml"
    path.write_text(mapping, encoding="utf-8")
    return path
