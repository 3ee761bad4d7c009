"""Walk the audit chains: every event's hash, every chain's head, and the Merkle roots the
signed checkpoints hold them to.

Each clinic has a chain and the system has one (`audit.rules.SYSTEM_CHAIN`). One pass reads
the events in insertion order (a plain table scan, the fastest read on both databases) and
keeps a small state per chain: the hash and number it expects next and, for the chains a
checkpoint covers, the right edge of its Merkle tree (`merkle.Frontier`), so the root at each
checkpointed size costs O(log n) on top of the hash check. A worker process can walk some
chains while this one walks the others: a walk takes either a set of chains or all but a set,
so between them no event escapes, whatever chain number someone wrote on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from safety.audit import rules
from safety.integrity import merkle
from safety.integrity.evidence import event_leaf
from safety.integrity.reader import Documents, Reader, TextLiterals, number, sha

#: Every chain's head: chain id -> (last_seq, last_hash).
Heads = dict[int, tuple[int, str]]

HEADS_SQL = "SELECT id, last_seq, last_hash FROM audit_chain_head"


def read_heads(reader: Reader) -> Heads:
    return {int(chain): (seq, last) for chain, seq, last in reader.all(HEADS_SQL)}


@dataclass
class Chain:
    """What walking one chain found."""

    chain: int
    #: Events found intact, from the chain's start.
    count: int = 0
    last_hash: str = rules.GENESIS_HASH
    #: The event number the head recorded before the walk, and the hash found there.
    watch: int = 0
    hash_at: str | None = None
    #: The Merkle roots (hex) at the sizes a checkpoint wants, and the frontier that gives them.
    wanted: frozenset[int] = frozenset()
    #: The largest of them: past it the frontier is dropped.
    until: int = 0
    roots: dict[int, str] = field(default_factory=dict)
    frontier: merkle.Frontier | None = None


@dataclass
class Walk:
    """What a walk over some chains found: each chain, and the first break."""

    chains: dict[int, Chain]
    problem: str | None = None
    #: The heads read again once the walk was done.
    heads_after: Heads | None = None


@dataclass(frozen=True)
class Selection:
    """Which chains a walk takes: those in `chains`, or (`others`) every chain but those."""

    chains: frozenset[int] = frozenset()
    others: bool = True

    def sql(self) -> str:
        if not self.chains:
            return "" if self.others else " WHERE 1 = 0"
        listed = ", ".join(str(int(c)) for c in sorted(self.chains))
        return f" WHERE chain_id {'NOT IN' if self.others else 'IN'} ({listed})"

    def takes(self, chain: int) -> bool:
        return (chain in self.chains) != self.others


EVERY_CHAIN = Selection()


def walk(
    reader: Reader,
    *,
    heads_before: Heads,
    wanted: Mapping[int, Collection[int]] | None = None,
    selection: Selection = EVERY_CHAIN,
    labels: Mapping[int, str] | None = None,
) -> Walk:
    """Walk every event of the selected chains; stop at the first one that does not hold.

    `heads_before` is read before the walk: each chain must reach the hash its head recorded
    then. `wanted` names, per chain, the sizes whose Merkle root a checkpoint holds.
    """
    wanted = wanted or {}
    label = label_for(labels or {})
    iso, text, document = reader.iso, TextLiterals().__getitem__, Documents().__getitem__
    found: dict[int, Chain] = {}

    def start(chain: int) -> Chain:
        sizes = frozenset(wanted.get(chain, ()))
        watch = heads_before.get(chain, (0, rules.GENESIS_HASH))[0]
        state = Chain(
            chain,
            watch=watch,
            hash_at=rules.GENESIS_HASH if watch == 0 else None,
            wanted=sizes,
            until=max(sizes, default=0),
            frontier=merkle.Frontier() if sizes else None,
        )
        found[chain] = state
        return state

    rows = reader.stream(
        f"SELECT chain_id, seq, {reader.dt('created_dt')}, actor_id, action, object_type, "
        f"object_id, {reader.json('details')}, prev_hash, hash FROM audit_events"
        f"{selection.sql()} ORDER BY id",
        "audit_verify_chains",
    )
    problem = None
    for (
        chain,
        seq,
        created,
        actor_id,
        action,
        object_type,
        object_id,
        details,
        stored_prev,
        stored,
    ) in rows:
        state = found.get(chain) or start(chain)
        if seq != state.count + 1:
            problem = f"{label(chain)}: audit event {state.count + 1} is missing (found {seq})"
            break
        prev_hash = state.last_hash
        # prev_hash + canonical_json(rules.event_payload(...)), its keys in sorted order. The
        # details are taken as stored first: the application stores them canonical, so most
        # events hash without decoding them. That is sound because they are the only text
        # spliced in as stored: every other part has a fixed length (the hash, the time) or
        # is self-delimiting (digits or null from `number`, escaped string literals from
        # `TextLiterals`, read unambiguously from either end), so equal bytes mean equal
        # details. Changing how those parts are written must keep that true. A clinic's
        # events name their chain; the system chain's do not (audit.rules.event_payload).
        named = f'"chain":{number(chain)},' if chain != rules.SYSTEM_CHAIN else ""
        head = (
            f'{prev_hash}{{"action":{text(action)},"actor_id":{number(actor_id)},{named}'
            f'"created_dt":"{iso(created)}","details":'
        )
        tail = f',"object_id":{text(object_id)},"object_type":{text(object_type)},"seq":{seq}}}'
        if stored_prev != prev_hash or (
            sha(f"{head}{details}{tail}") != stored
            and sha(f"{head}{document(details)}{tail}") != stored
        ):
            problem = f"{label(chain)}: audit event {seq} ({action}) was altered"
            break
        state.count = seq
        state.last_hash = stored
        if seq == state.watch:
            state.hash_at = stored
        if state.frontier is not None:
            state.frontier.append(event_leaf(stored))
            if seq in state.wanted:
                state.roots[seq] = state.frontier.root().hex()
                if seq == state.until:
                    state.frontier = None  # no checkpoint asks for more of this chain
    result = Walk(found, problem)
    if problem is None:
        result.heads_after = read_heads(reader)
        result.problem = _head_problem(result, heads_before, selection, label)
    return result


def _head_problem(walked: Walk, before: Heads, selection: Selection, label) -> str | None:
    """Hold each walked chain to its head as read before and after the walk.

    A chain must reach the event its head recorded before the walk, with the hash it recorded
    (nothing cut from the tail or replaced), and reach no further than the head after it
    (nothing added behind the application's back); where the later reading is the chain's
    end, the hashes must agree. A head whose chain has no events is a cut chain.
    """
    after = walked.heads_after or {}
    for chain in sorted(set(walked.chains) | {c for c in before if selection.takes(c)}):
        expected_seq, expected_hash = before.get(chain, (0, rules.GENESIS_HASH))
        state = walked.chains.get(chain) or Chain(
            chain, watch=expected_seq, hash_at=rules.GENESIS_HASH if expected_seq == 0 else None
        )
        if chain not in after:
            return f"{label(chain)} has {state.count} events but no head"
        if state.count < expected_seq or state.hash_at != expected_hash:
            return f"{label(chain)} ends at event {state.count} but its head records {expected_seq}"
        last_seq, last_hash = after[chain]
        if last_seq < state.count or (last_seq == state.count and last_hash != state.last_hash):
            return f"{label(chain)} ends at event {state.count} but its head records {last_seq}"
    return None


def label_for(labels: Mapping[int, str]):
    def label(chain: int) -> str:
        if chain == rules.SYSTEM_CHAIN:
            return "the system chain"
        name = labels.get(chain)
        return f"the chain of clinic {chain} ({name})" if name else f"chain {chain}"

    return label


def clinic_names(reader: Reader) -> dict[int, str]:
    """Clinic names by id, for messages that name a chain."""
    return {int(i): name for i, name in reader.all("SELECT id, name FROM clinics")}
