"""A live period in memory: events are applied as they come, readers ask for one member's figures at any
moment, and a snapshot is exactly ``run_period`` over the genealogy and every event applied so far.

How it is built (``_mlm_core.LiveCore``):

- **Writers** hand in Arrow tables of events. Python lays the columns out as codes and member rows; the
  kernel checks each event, tells a resent event from a conflicting one by ``event_id`` and applies the
  batch under one lock with the GIL released. With a :class:`~mlm_core.Store` the batch is appended to it
  first (a write-ahead log): a projection built again on the same store replays it.
- **Recomputation** publishes an immutable view of the period. Two views take turns: the one published
  before the current one is brought up to date with the members events changed since it (their inputs
  copied under that lock; ranks, legs and level sums recomputed up their trees, exactly as the whole
  period would), then published in its place. The first view and the views after joins are computed
  whole. :meth:`Projection.start` keeps a thread doing that
  whenever events came.
- **Readers** (:meth:`Projection.member`) take the published view, a pointer copy: they never wait for a
  writer or a recomputation, and never see half a batch. ``as_of`` says which event the answer reflects.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _arrow, _mlm_core
from .engine import PeriodResult, _attributes, _result, _State, _state_arrays
from .errors import GenealogyError, InputError, MlmCoreError
from .genealogy import Genealogy
from .plan import Plan

if TYPE_CHECKING:
    from .store import Store

KINDS = ("order", "return", "join", "status", "tier", "rank_override")
ORDER, RETURN, JOIN, STATUS, TIER, RANK_OVERRIDE = range(len(KINDS))
FIELDS = ("sponsor_id", "placement_id", "leg", "status", "tier", "rank_override")
_NO_CODE = 2**32 - 1  # no value given (also: a null member id)
_BAD_CODE = 2**32 - 2  # a name the plan does not have (also: an id that is no member)
_NULL_ROW, _UNKNOWN_ROW = _NO_CODE, _BAD_CODE
_LEGS = {"L": 1, "R": 2}


class Projection:
    """A live period of ``plan`` over ``genealogy``; ``state`` and ``attributes`` as for ``run_period``.

    ``store``: a :class:`~mlm_core.Store` the events are appended to as they are applied, under ``name``
    (default: the period). Built on a store that already holds events of that name, the projection
    replays them first: a process restarted after a crash reaches the projection it had. The same plan,
    genealogy, state and attributes must be given again (they are not in the store).

    >>> from mlm_core import Genealogy, Plan, synth
    >>> members = synth.network(200, seed=1)
    >>> live = Projection(Plan.from_toml("[unilevel]\\nrates_bp = [1000]"), Genealogy.from_arrow(members),
    ...                   period="2026-11")
    >>> events = pa.table({"event_id": ["e1", "e2"], "kind": ["order", "order"],
    ...                    "member_id": ["M00000002", "M00000003"], "pv": [5000, 2500], "bv": [4000, 2000]})
    >>> live.apply(events), live.apply(events), live.rejected.num_rows
    (2, 2, 0)
    >>> live.member("M00000001")["lines"], live.member("M00000001")["as_of"]
    ({'unilevel': 600}, 2)
    """

    def __init__(self, plan: Plan, genealogy: Genealogy, *, period: str, state: Any = None,
                 attributes: Any = None, store: Store | None = None, name: str | None = None) -> None:
        self.plan, self.genealogy, self.period, self.state = plan, genealogy, period, state
        self.store, self.name = store, name if name is not None else period
        self._columns = plan.volume_columns
        # Read and checked as run_period reads them: active or not (the genealogy's status where the
        # attributes give none), tier and rank override indices (-1: none), the previous state by row.
        active, tier, rank_override = _attributes(plan, genealogy, attributes)
        n = len(genealogy)
        self._previous = _state_arrays(plan, genealogy, state)
        carries = [self._previous.carries.get(b.name) if b.type == "binary" else None for b in plan.bonuses]
        self._core = _mlm_core.LiveCore(
            genealogy._core, plan._core, list(plan.rank_names), list(plan.bonus_names), list(self._columns),
            max(len(self._columns), plan._compiled["columns"]), active,
            tier if tier is not None else pa.array(np.full(n, -1, np.int16)),
            rank_override if rank_override is not None else pa.array(np.full(n, -1, np.int16)),
            pa.array(self._previous.highest), carries,
        )
        # Status words as the kernel codes them: 0 is "active", the others are inactive but kept apart,
        # so that a resent status event with another word is told from the first.
        self._words: dict[str, int] = {"active": 0}
        self._write = threading.Lock()  # one batch at a time: store order is apply order
        self._batches = 0
        self._snapshot: tuple[int, int, PeriodResult] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False  # the recomputing thread is in its loop (cheaper to ask than is_alive)
        self._local = threading.local()  # each writer thread sees the rejections of its own last batch
        #: Why the recomputing thread's last recomputation failed (None when it did not).
        self.refresh_error: MlmCoreError | None = None
        if store is not None:
            self._replay(store)

    @property
    def rejected(self) -> pa.Table:
        """The events the calling thread's last :meth:`apply` rejected: ``row, event_id, reason`` (each
        writer thread sees its own)."""
        return getattr(self._local, "rejected", _EMPTY)

    @property
    def seq(self) -> int:
        """The sequence number of the last applied event (0 before any)."""
        return int(self._core.seq())

    # -- writing ----------------------------------------------------------------------------------------

    def apply(self, events: Any) -> int:
        """Applies an Arrow table of events in row order; returns the sequence number of the last applied
        event. A repeated ``event_id`` with the same fields is a no-op; with different fields, and any
        other bad event, it is rejected with a reason (:attr:`rejected`: ``row, event_id, reason``) and the
        rest are applied. Each event is applied whole or not at all, and readers see a batch whole or not
        at all."""
        table = self._normalised(events)
        with self._write:
            return self._apply(table, persist=True)

    def _apply(self, table: pa.Table, *, persist: bool) -> int:
        count = table.num_rows
        if count == 0:
            self._local.rejected = _EMPTY
            return self.seq
        kind = pc.fill_null(pc.index_in(_col(table, "kind"), value_set=pa.array(KINDS)), 255)
        kinds = np.asarray(kind.to_numpy(zero_copy_only=False), dtype=np.uint8)
        rows = self._rows(_col(table, "member_id"))
        value = self._values(table, kinds)
        given: dict[int, str] = {}
        links = np.zeros((3, count), dtype=np.uint32)  # sponsor row, placement row, leg of joins
        grown = None
        if (kinds == JOIN).any():
            grown = self._joins(table, kinds, rows, links, given)
        if (rows == _UNKNOWN_ROW).any() and grown is not None:
            self._joined_later(table, kinds, rows, grown[1], given)
        if persist and self.store is not None:
            self.store._append_events(self.name, self._batches, table, self._columns)
        self._batches += 1
        flags = np.zeros(count, dtype=bool)
        flags[list(given)] = True
        # The new members and the batch's events reach the kernel in one locked step: no recomputation
        # sees one without the other.
        seq, bad, codes, details = self._core.apply(
            _col(table, "event_id"), pa.array(kinds), pa.array(rows),
            [pc.fill_null(_col(table, c), 0) for c in self._columns]
            + [pa.array(np.zeros(count, np.int64))] * (self.plan._compiled["columns"] - len(self._columns)),
            pa.array(value), pa.array(links[0]), pa.array(links[1]), pa.array(links[2].astype(np.uint8)),
            pa.array(flags), grown[0]._core if grown is not None else None,
        )
        if grown is not None:
            self.genealogy = grown[0]
            self._previous = _grown(self._previous, len(grown[0]))
        self._local.rejected = self._reasons(table, bad, codes, details, given)
        self._wake.set()
        return int(seq)

    def _normalised(self, events: Any) -> pa.Table:
        """The event table with every field column present (nulls where absent) and text as strings."""
        table = _arrow.as_table(events, "events")
        for name in ("event_id", "kind", "member_id"):
            if name not in table.column_names:
                raise InputError(f"events lack column {name!r}; they have {', '.join(table.column_names)}",
                                 column=name)
        allowed = {"event_id", "kind", "member_id", *self._columns, *FIELDS}
        unknown = [c for c in table.column_names if c not in allowed]
        if unknown:
            raise InputError(f"event column(s) {', '.join(unknown)} are not event fields", column=unknown[0])
        n = table.num_rows
        # Event ids in Unicode NFC, as the store's transaction ids: the same text is the same id.
        out: dict[str, Any] = {"event_id": pc.utf8_normalize(table.column("event_id").cast(pa.string()), "NFC"),
                               "kind": table.column("kind").cast(pa.string()),
                               "member_id": table.column("member_id")}
        for name in self._columns:
            out[name] = (_arrow.int64_array(_arrow.column(table, name), f"events.{name}", allow_bool=False)
                         if name in table.column_names else pa.nulls(n, pa.int64()))
        for name in FIELDS:
            out[name] = table.column(name).cast(pa.string()) if name in table.column_names else pa.nulls(n, pa.string())
        return pa.table(out).combine_chunks()

    def _ids(self, ids: Any) -> tuple[pa.Array, np.ndarray]:
        """Ids as the member id type, and which of them could not be read as one (no member, then)."""
        array = _arrow.as_array(ids, "member_id")
        target = self.genealogy.member_ids.type
        unreadable = np.zeros(len(array), dtype=bool)
        if array.type == target:
            return array, unreadable
        try:
            return array.cast(target), unreadable
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = []
            for i, v in enumerate(array.to_pylist()):
                try:
                    values.append(None if v is None else pa.scalar(v).cast(target).as_py())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    values.append(None)
                    unreadable[i] = True
            return pa.array(values, target), unreadable

    def _rows(self, ids: Any) -> np.ndarray:
        array, unreadable = self._ids(ids)
        rows = np.array(self._core.rows(array).to_numpy(zero_copy_only=False), dtype=np.uint32)
        rows[unreadable] = _UNKNOWN_ROW
        return rows

    def _values(self, table: pa.Table, kinds: np.ndarray) -> np.ndarray:
        """Each event's value as the kernel codes it: a status word, a tier or rank index."""
        value = np.full(len(kinds), _NO_CODE, dtype=np.uint32)
        status = _col(table, "status")
        if status.null_count < len(status):
            encoded = status.dictionary_encode()
            for word in encoded.dictionary.to_pylist():
                self._words.setdefault(word, len(self._words))
            codes = np.asarray([self._words[w] for w in encoded.dictionary.to_pylist()], dtype=np.uint32)
            at = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            pick = ((kinds == STATUS) | (kinds == JOIN)) & (at >= 0)
            value[pick] = codes[at[pick]]
        for kind, column, names in ((TIER, "tier", self.plan.tiers), (RANK_OVERRIDE, "rank_override",
                                                                      self.plan.rank_names)):
            pick = kinds == kind
            if not pick.any():
                continue
            words = _col(table, column)
            index = pc.index_in(words, value_set=pa.array(names, pa.string()))
            found = np.asarray(index.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            given = np.asarray(words.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            value[pick & (found >= 0)] = found[pick & (found >= 0)]
            value[pick & given & (found < 0)] = _BAD_CODE
        return value

    def _joins(self, table: pa.Table, kinds: np.ndarray, rows: np.ndarray, links: np.ndarray,
               given: dict[int, str]) -> tuple[Genealogy, dict[Any, int]] | None:
        """Checks each join in row order and sets its member's new row and its links; returns the
        genealogy with the new members (None when none joins) and their rows by id."""
        at = np.flatnonzero(kinds == JOIN)
        take = pa.array(at)
        event_ids = _col(table, "event_id").take(take).to_pylist()
        first: dict[str, int] = {}
        for r, event_id in enumerate(_col(table, "event_id").to_pylist()):
            if event_id is not None:
                first.setdefault(event_id, r)
        seen = self._core.seqs_of(_col(table, "event_id").take(take))
        raw = {c: _col(table, c).take(take).to_pylist() for c in ("member_id", "sponsor_id", "placement_id")}
        read = {c: self._ids(_col(table, c).take(take)) for c in raw}
        member, sponsor, placement = (read[c][0].to_pylist() for c in ("member_id", "sponsor_id", "placement_id"))
        leg = _col(table, "leg").take(take).to_pylist()
        status = _col(table, "status").take(take).to_pylist()
        n = len(self.genealogy)
        lookup = [x for x in {*member, *sponsor, *placement} if x is not None]
        known = dict(zip(lookup, self._rows(pa.array(lookup, self.genealogy.member_ids.type)).tolist(),
                         strict=True))
        new: dict[Any, int] = {}
        new_rows: list[dict[str, Any]] = []
        taken: set[tuple[int, int]] = set()
        accepted: set[int] = set()  # batch rows of the joins that add a member

        def row_of(member_id: Any) -> int | None:
            if member_id in new:
                return new[member_id]
            row = known.get(member_id, _UNKNOWN_ROW)
            return None if row >= _BAD_CODE else int(row)

        id_type = self.genealogy.member_ids.type
        for i, r in enumerate(at.tolist()):
            event_id = event_ids[i]
            if event_id is None:
                continue  # the kernel names it
            unreadable = [c for c in raw if read[c][1][i]]
            if unreadable:
                c = unreadable[0]
                given[r] = f"{c} {raw[c][i]!r} cannot be read as a member id ({id_type})"
                continue
            if member[i] is None:
                continue  # the kernel names it
            earlier = first[event_id]
            if seen[i] or earlier in accepted:
                # The same event id again: its fields are compared with the first one's by the kernel.
                for k, value in ((0, sponsor[i]), (1, placement[i])):
                    row = row_of(value)
                    links[k, r] = _NULL_ROW if value is None else (row if row is not None else _UNKNOWN_ROW)
                links[2, r] = _LEGS.get(leg[i], 0)
                row = row_of(member[i])
                rows[r] = row if row is not None else _UNKNOWN_ROW
                continue
            if earlier < r:
                first_reason = given.get(earlier)
                given[r] = (f"event_id {event_id!r} is also row {earlier} of this batch"
                            + (f", rejected: {first_reason}" if first_reason else ", another event"))
                continue
            why = self._join_problem(raw["member_id"][i], raw["sponsor_id"][i], raw["placement_id"][i], leg[i],
                                     member[i], sponsor[i], placement[i], row_of, taken)
            if why is not None:
                given[r] = why
                continue
            row = n + len(new_rows)
            new[member[i]] = row
            accepted.add(r)
            s, p = row_of(sponsor[i]), row_of(placement[i])
            assert s is not None and p is not None
            taken.add((p, _LEGS[leg[i]]))
            rows[r], links[0, r], links[1, r], links[2, r] = row, s, p, _LEGS[leg[i]]
            new_rows.append({"member_id": member[i], "sponsor_id": sponsor[i], "placement_id": placement[i],
                             "leg": leg[i], "status": status[i]})
        if not new_rows:
            return None
        old = self.genealogy.to_arrow()
        added = pa.Table.from_pylist(new_rows, schema=old.schema)
        try:
            grown = Genealogy.from_arrow(pa.concat_tables([old, added]), allow_multiple_roots=True)
        except GenealogyError as exc:  # a check above missed something: no join of this batch applies
            for r in accepted:
                given[r] = f"the genealogy would not be whole with this batch's joins: {exc}"
            rows[list(accepted)] = _UNKNOWN_ROW
            return None
        return grown, new

    def _join_problem(self, raw_member: Any, raw_sponsor: Any, raw_placement: Any, leg: Any, member: Any,
                      sponsor: Any, placement: Any, row_of: Any, taken: set[tuple[int, int]]) -> str | None:
        if row_of(member) is not None:
            return f"member_id {raw_member!r} is already a member"
        if sponsor is None or row_of(sponsor) is None:
            return f"a join needs a sponsor who is a member; sponsor_id {raw_sponsor!r} is none"
        if placement is None or row_of(placement) is None:
            return f"a join needs a placement who is a member; placement_id {raw_placement!r} is none"
        if leg not in _LEGS:
            return f"leg {leg!r} is neither L nor R"
        p = row_of(placement)
        side = _LEGS[leg]
        if (p, side) in taken or (p < len(self.genealogy) and self._slot_taken(p, side)):
            return f"the {leg} slot under {raw_placement!r} is taken"
        return None

    def _slot_taken(self, placement_row: int, side: int) -> bool:
        children = self.genealogy._core.children("placement", placement_row).to_numpy(zero_copy_only=False)
        if not len(children):
            return False
        codes = self.genealogy._core.leg_codes().to_numpy(zero_copy_only=False)
        return bool((codes[children] == side).any())

    def _joined_later(self, table: pa.Table, kinds: np.ndarray, rows: np.ndarray, new: dict[Any, int],
                      given: dict[int, str]) -> None:
        """Events for members that join in this batch: after the join they apply to the new row; before
        it they are rejected."""
        at = np.flatnonzero((rows == _UNKNOWN_ROW) & (kinds != JOIN))
        ids = self._ids(_col(table, "member_id").take(pa.array(at)))[0].to_pylist()
        join_row: dict[int, int] = {}
        for r in np.flatnonzero(kinds == JOIN).tolist():
            if int(rows[r]) < _BAD_CODE and r not in given:
                join_row.setdefault(int(rows[r]), r)  # the first: a resent join comes after it
        for r, member_id in zip(at.tolist(), ids, strict=True):
            if member_id not in new:
                continue
            joined_at = join_row.get(new[member_id])
            if joined_at is not None and joined_at < r:
                rows[r] = new[member_id]
            else:
                given[r] = f"member_id {member_id!r} joins later in this batch (row {joined_at})"

    def _reasons(self, table: pa.Table, bad: list[int], codes: list[str], details: list[int],
                 given: dict[int, str]) -> pa.Table:
        if not bad:
            return _EMPTY
        event_ids = _col(table, "event_id").take(pa.array(bad)).to_pylist()
        sub = table.take(pa.array(bad)).to_pylist()

        reasons = [self._reason(code, detail, event, given.get(row, "rejected"))
                   for row, event, code, detail in zip(bad, sub, codes, details, strict=True)]
        return _rejections(bad, event_ids, reasons)

    def _reason(self, code: str, detail: int, event: dict[str, Any], given: str) -> str:
        kind, member = event["kind"], event["member_id"]
        columns = ", ".join(c for i, c in enumerate(self._columns) if detail >> i & 1)
        if code == "given":
            return given
        if code == "null_event_id":
            return "event_id is null"
        if code == "unknown_kind":
            return f"kind {kind!r} is none of {', '.join(KINDS)}"
        if code == "null_member":
            return "member_id is null"
        if code == "unknown_member":
            return f"member_id {member!r} is no member of the genealogy"
        if code == "negative":
            return f"{kind} has negative {columns}: amounts are given positive (a return takes them back)"
        if code == "no_status":
            return "status event without a status"
        if code == "unknown_tier":
            return f"tier {event['tier']!r} is no tier of the plan"
        if code == "unknown_rank":
            return f"rank {event['rank_override']!r} is no rank of the plan"
        if code == "other_fields":
            return f"event_id {event['event_id']!r} was applied (seq {detail}) with other fields"
        return f"it would take the {columns} total of member {member!r} out of int64"

    def _replay(self, store: Store) -> None:
        for table in store._event_batches(self.name, self._columns):
            with self._write:
                self._apply(self._normalised(table), persist=False)

    # -- reading ----------------------------------------------------------------------------------------

    def refresh(self) -> int:
        """Brings the period up to every event applied so far and publishes it to :meth:`member`
        (with the GIL released); returns the sequence number it reflects."""
        return int(self._core.refresh())

    @property
    def refreshes(self) -> dict[str, int]:
        """How the views published so far were made: ``whole`` (the period computed over every member)
        and ``updated`` (an earlier view brought up to date with the members events changed)."""
        whole, updated = self._core.refreshes()
        return {"whole": int(whole), "updated": int(updated)}

    def start(self) -> Projection:
        """Starts a thread that recomputes whenever events were applied, so that :meth:`member` answers
        from a view at most one recomputation old without ever computing itself. Also a context
        manager: ``with projection.start(): …`` stops it at the end."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._keep_fresh, name="mlm_core-projection", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stops the recomputing thread (it finishes the recomputation it is in)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Projection:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _keep_fresh(self) -> None:
        self._running = True
        try:
            self._fresh_loop()
        finally:
            self._running = False

    def _fresh_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            if self._core.view_seq() != self._core.seq():
                try:
                    self._core.refresh()
                    self.refresh_error = None
                except MlmCoreError as exc:
                    # The events make the period fail (a group total out of int64, say): readers keep the
                    # last view, and the next batch is tried again.
                    self.refresh_error = exc
                    self._wake.wait()
            else:
                self._wake.wait(0.5)

    def member(self, member_id: Any) -> dict[str, Any]:
        """One member's projected figures: ``lines`` (bonus → amount), ``paid_as_rank``,
        ``highest_rank``, ``active``, ``volumes`` (its own), ``group_pv``, ``legs`` (per binary bonus: the
        volume paired this period, carry in included, and the carries out), ``next_rank`` (the next rank
        it can earn and what it lacks for it: ``status``, ``pv``, ``group_pv``, ``legs``; None at the top
        and while a rank override fixes the paid-as rank)
        and ``as_of``, the sequence number of the last event they reflect.

        With :meth:`start` running, the answer comes from the last published view and never waits;
        without it, the view is brought up to date first when events came since (:meth:`refresh`)."""
        core = self._core
        if not self._running and core.view_seq() != core.seq():
            core.refresh()
        figures = core.member(member_id)
        if figures is None and core.view_seq() is None:  # the thread has not published a view yet
            core.refresh()
            figures = core.member(member_id)
        if figures is None:
            raise InputError(f"member_id {member_id!r} is no member of the genealogy")
        return figures

    def snapshot(self) -> PeriodResult:
        """The period as ``run_period`` computes it over the genealogy and every event applied so far.

        The state is copied under the writers' lock and the period runs without it (and without the GIL):
        writers wait for the copy only."""
        while True:
            with self._write:
                genealogy, previous, seq = self.genealogy, self._previous, self.seq
            if self._snapshot is not None and self._snapshot[:2] == (seq, len(genealogy)):
                return self._snapshot[2]
            raw = self._core.period()
            if raw["members"] == len(genealogy):
                break  # else members joined between the two steps: again, with the grown genealogy
        result = _result(self.plan, genealogy, self.period, list(raw["sums"]), raw, previous)
        self._snapshot = (int(raw["seq"]), len(genealogy), result)
        return result

    def attributes(self) -> pa.Table:
        """Every member's attributes as the events left them (``run_period``'s ``attributes``)."""
        with self._write:
            genealogy, inputs = self.genealogy, self._core.inputs()
        active = np.asarray(inputs["status_active"].to_numpy(zero_copy_only=False), dtype=bool)
        status = pa.DictionaryArray.from_arrays(pa.array(active.astype(np.int8)), pa.array(["inactive", "active"]))

        def names(codes: pa.Array, pool: tuple[str, ...]) -> pa.Array:
            values = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int16)
            if not pool:
                return pa.nulls(len(values), pa.string())
            taken = pa.array(pool, pa.string()).take(pa.array(np.maximum(values, 0)))
            return pc.if_else(pa.array(values >= 0), taken, pa.scalar(None, pa.string()))

        table = {"member_id": genealogy.member_ids, "status": status.cast(pa.string()),
                 "rank_override": names(inputs["rank_override"], self.plan.rank_names)}
        if self.plan.tiers:
            table["tier"] = names(inputs["tier"], self.plan.tiers)
        return pa.table(table)


def _grown(previous: _State, n: int) -> _State:
    """The previous state with rows for members that joined: no carries, highest rank Member."""
    pad = n - len(previous.highest)
    if pad <= 0:
        return previous
    zeros = np.zeros(pad, dtype=np.int64)
    return _State(
        np.concatenate([previous.highest, np.zeros(pad, dtype=previous.highest.dtype)]),
        {k: (pa.concat_arrays([left, pa.array(zeros)]), pa.concat_arrays([right, pa.array(zeros)]))
         for k, (left, right) in previous.carries.items()},
        {k: np.concatenate([v, zeros]) for k, v in previous.foreign.items()},
    )


def _col(table: pa.Table, name: str) -> pa.Array:
    return _arrow.column(table, name)


def _rejections(rows: list[int], event_ids: list[Any], reasons: list[Any]) -> pa.Table:
    return pa.table({"row": pa.array(rows, pa.int64()), "event_id": pa.array(event_ids, pa.string()),
                     "reason": pa.array(reasons, pa.string())})


_EMPTY = _rejections([], [], [])
