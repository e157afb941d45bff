"""Detecting and deciding: score feature batches against each site's population, keep verdicts.

The engine hands over batches of changed accounts. The detector scores each site's rows against
that site's reference (:class:`SiteReferences`: every scored account's latest features, the
flagged ones left out, plus a small prior) in one call to the model (scoring); compares with the
artifact's threshold (deciding); asks :mod:`models.explain` for evidence when an account crosses
it; and reports new flags and scored snapshots to optional callbacks (acting is the caller's
business: files, the store, metrics).

Deciding knows who may be a victim. An account whose bookings are mostly slots *received* by
handoff may have been operated by the seller (logged in with the buyer's credentials from the
seller's device): its context families (infrastructure, shared devices and registrations) do not
count for it, only what it does itself. Once the account that handed it a slot is flagged, it is a
``resale_buyer``: never flagged unless its own holding evidence alone crosses the threshold, its reasons naming the
seller and the slot. A flagged seller lists its buyers; the detector tells each of them with a
``SellerFlagged`` fact, which the engine folds into the buyer's state like any other fact.

A verdict's ``score`` is the account's peak score so far, so ``flagged`` is exactly
``score >= threshold`` and ``flagged_at`` is the event time of the snapshot that first crossed.
(When an account turns out to be a buyer, its peak restarts from its own evidence.)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import UTC, datetime

import msgspec
import numpy as np

from features.engine import FeatureBatch
from features.facts import AnyFact, SellerFlagged
from features.registry import FAMILIES
from features.state import AccountState
from models.artifact import ModelArtifact
from models.explain import buyer_reasons, explain, reason_kind, seller_note
from models.population import PopulationRarity, RarityTables, Reference
from models.records import RESALE_BUYER, SCALPING, Flag, Verdict

logger = logging.getLogger(__name__)

FlagHandler = Callable[[Flag], None]
SnapshotHandler = Callable[[FeatureBatch, np.ndarray], None]
VerdictHandler = Callable[[Verdict], None]


def _summary(verdict: Verdict) -> tuple[float, bool, str | None, int, int]:
    """What makes a verdict worth writing again when it changes."""
    return verdict.score, verdict.flagged, verdict.category, len(verdict.buyers), len(verdict.reasons)


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class SiteReferences:
    """Each site's population reference, updated as accounts are scored, frozen for scoring.

    The live reference of a site counts the latest feature bins of every account scored there
    that is not flagged; scoring uses a frozen copy (plus the prior), taken before the first
    scoring past each multiple of ``refresh_s`` of event time, so an account is judged against a
    stable population and the order of accounts inside one interval does not matter. When the
    accounts are spread over partitions, each holds the live rows of its own accounts: ``share``
    gives its part, ``receive_shared`` freezes the sum of every partition's part.
    """

    def __init__(
        self,
        model: PopulationRarity,
        prior_weight: float,
        refresh_s: float,
        live: MutableMapping[str, Reference] | None = None,
        rows: MutableMapping[str, tuple[str, float, np.ndarray]] | None = None,
    ) -> None:
        self.model = model
        self.refresh_s = refresh_s
        self.live: MutableMapping[str, Reference] = {} if live is None else live
        #: account -> (site, weight, bins it is counted with), so an update replaces its old row
        self.rows: MutableMapping[str, tuple[str, float, np.ndarray]] = {} if rows is None else rows
        rows_in_prior = float(getattr(model, "n_rows_", 0.0))
        self.prior = model.reference_.copy() if rows_in_prior > 0 and prior_weight > 0 else None
        self.prior_scale = prior_weight / rows_in_prior if self.prior is not None else 0.0
        #: the refresh interval the frozen references belong to (None: nothing frozen yet)
        self.frozen_interval: int | None = None
        self._frozen: dict[str, RarityTables] = {}
        self._prior_only: RarityTables | None = None

    def share(self, at: float) -> dict[str, list[list[float]]] | None:
        """This partition's live counts per site, when scoring at ``at`` needs a new frozen reference."""
        if math.floor(at / self.refresh_s) == self.frozen_interval:
            return None
        return {site: [c.tolist() for c in ref.counts] for site, ref in self.live.items()}

    def receive_shared(self, parts: Sequence[dict[str, list[list[float]]] | None], at: float) -> None:
        """Freeze every site's reference: the sum of all partitions' live counts, plus the prior."""
        merged: dict[str, Reference] = {}
        for part in parts:
            for site, counts in (part or {}).items():
                reference = merged.get(site)
                if reference is None:
                    reference = merged[site] = Reference.empty(self.model.edges_)
                for j, column in enumerate(counts):
                    reference.counts[j] += np.asarray(column, dtype=np.float64)
        self._frozen = {site: self._with_prior(reference) for site, reference in merged.items()}
        self.frozen_interval = math.floor(at / self.refresh_s)

    def freeze_local(self, at: float) -> None:
        """``share`` and ``receive_shared`` in one, for a reference that is not spread over partitions."""
        part = self.share(at)
        if part is not None:
            self.receive_shared([part], at)

    def _with_prior(self, reference: Reference) -> RarityTables:
        if self.prior is not None:
            reference.merge(self.prior, self.prior_scale)
        return self.model.tables(reference)

    def tables(self, site: str) -> RarityTables:
        """The frozen reference of ``site`` (the prior alone for a site that had no accounts then)."""
        tables = self._frozen.get(site)
        if tables is not None:
            return tables
        if self._prior_only is None:
            self._prior_only = self._with_prior(Reference.empty(self.model.edges_))
        return self._prior_only

    def update(
        self, site: str, account_ids: list[str], bins: np.ndarray, weights: np.ndarray, keep: np.ndarray
    ) -> None:
        """Replace each account's row in its site's live reference; rows with ``keep`` False leave it."""
        live = self.live.get(site)
        if live is None:
            live = Reference.empty(self.model.edges_)
        for account_id in account_ids:
            old = self.rows.pop(account_id, None)
            if old is not None:
                target = live if old[0] == site else self.live.get(old[0])
                if target is not None:
                    target.add(old[2][None, :], -old[1])
                    if target is not live:
                        self.live[old[0]] = target
        for i, account_id in enumerate(account_ids):
            if keep[i]:
                live.add(bins[i : i + 1], float(weights[i]))
                self.rows[account_id] = (site, float(weights[i]), bins[i])
        self.live[site] = live


def reference_weight(st: AccountState) -> float:
    """How much one account counts in its site's reference: 1 / the most accounts it shares
    anything with (a device, a data-centre address, a registration detail, a creation burst).

    The reference counts independent actors, not accounts: an operation of 150 accounts on a few
    devices counts as a handful, so it cannot make its own behaviour look ordinary; a cyber-café
    PC's users count as one, which changes nothing for them (their behaviour is ordinary anyway).
    """
    widest = max((accounts for accounts, _ in st.links.values()), default=1)
    return 1.0 / max(widest, 1)


class Detector:
    """Callable batch handler for the engine: ``facts = detector(batch)``."""

    def __init__(
        self,
        model: ModelArtifact,
        verdicts: MutableMapping[str, Verdict] | None = None,
        on_flag: FlagHandler | None = None,
        on_scored: SnapshotHandler | None = None,
        references: SiteReferences | None = None,
        on_verdict: VerdictHandler | None = None,
    ) -> None:
        self.model = model
        self.estimator: PopulationRarity = model.estimator
        self.threshold = model.threshold
        self.verdicts: MutableMapping[str, Verdict] = {} if verdicts is None else verdicts
        self.on_flag = on_flag
        self.on_scored = on_scored
        #: called with a copy of each verdict that is new or changed (score, flag, category, buyers)
        self.on_verdict = on_verdict
        self.references = references or SiteReferences(self.estimator, model.prior_weight, model.reference_refresh_s)
        self.flags_raised = 0
        self.flags_withdrawn = 0
        #: accounts scoring this high are left out of their site's reference even before they are
        #: flagged: suspicious accounts must not define what is ordinary
        self.trim_score = model.threshold * model.reference_trim
        families = self.estimator.families_
        kinds = np.array([FAMILIES[f].kind for f in families])
        #: families that count for an account that received a handoff (not what a seller brings)
        self._own = kinds != "context"
        self._holding = kinds == "holding"

    def share(self, at: float) -> dict[str, list[list[float]]] | None:
        """This partition's part of the site references, when scoring at ``at`` needs them refrozen."""
        return self.references.share(at)

    def receive_shared(self, parts: Sequence[dict[str, list[list[float]]] | None], at: float) -> None:
        self.references.receive_shared(parts, at)

    def __call__(self, batch: FeatureBatch) -> list[AnyFact]:
        facts: list[AnyFact] = []
        scores = np.zeros(len(batch))
        sites = np.asarray(batch.sites)
        if self.references.frozen_interval is None:
            self.references.freeze_local(batch.at)  # called without the dataflow's share round
        for site in dict.fromkeys(batch.sites):
            rows = np.flatnonzero(sites == site)
            tables = self.references.tables(site)
            X = batch.matrix[rows]
            family, per_feature = self.estimator.evidence(X, tables)
            keep = np.ones(rows.size, dtype=bool)
            for k, i in enumerate(rows.tolist()):
                score, flagged = self._decide(batch, i, family[k], per_feature[k], tables, facts)
                scores[i] = score
                keep[k] = not flagged and score < self.trim_score
            ids = [batch.account_ids[i] for i in rows.tolist()]
            weights = np.array([reference_weight(batch.states[i]) for i in rows.tolist()])
            self.references.update(site, ids, self.estimator.bin_rows(X), weights, keep)
        if self.on_scored is not None:
            self.on_scored(batch, scores)
        return facts

    def _decide(
        self,
        batch: FeatureBatch,
        i: int,
        family: np.ndarray,
        per_feature: np.ndarray,
        tables: RarityTables,
        facts: list[AnyFact],
    ) -> tuple[float, bool]:
        """Update one account's verdict from its evidence; return the score used and the decision."""
        account_id, st = batch.account_ids[i], batch.states[i]
        # received slots make up at least half its bookings: a buyer, not a bot that also snapped
        # up a few cancelled slots among its own bookings
        presumed_buyer = st.handoffs_in > 0 and 2 * st.handoffs_in >= st.bookings
        bought = presumed_buyer and bool(st.flagged_sellers)
        counted = self._holding if bought else self._own if presumed_buyer else None
        score = float(self.estimator.combine(family, counted)[0])
        at = _time(batch.times[i])
        verdicts = self.verdicts
        verdict = verdicts.get(account_id)
        before = None if verdict is None else _summary(verdict)
        mode_changed = verdict is not None and (
            verdict.presumed_buyer != presumed_buyer or (verdict.category == RESALE_BUYER) != bought
        )
        if verdict is None:
            verdict = Verdict(account_id, score, False, None, [], batch.sites[i], self.model.version, at)
        elif mode_changed:
            # what counts for this account changed (it received a slot, or its seller was flagged):
            # its peak restarts from the evidence that still counts
            if verdict.flagged:
                self.flags_withdrawn += 1
                logger.info("verdict on %s withdrawn: it received a resold slot", account_id)
            verdict.score, verdict.scored_at = score, at
            verdict.flagged, verdict.flagged_at, verdict.reasons, verdict.category = False, None, [], None
        elif score > verdict.score:
            verdict.score, verdict.scored_at = score, at
        verdict.presumed_buyer = presumed_buyer
        flagged = verdict.score >= self.threshold
        note = self._note(tables)
        if bought and not flagged:
            verdict.category = RESALE_BUYER
            verdict.reasons = buyer_reasons(st)
        elif flagged and (score >= verdict.score or not verdict.flagged):
            verdict.category = SCALPING
            if presumed_buyer:
                per_feature = per_feature * self._own[self.estimator.family_of_]
            verdict.reasons = explain(per_feature, st, note) + seller_note(st)
            if not verdict.flagged:
                verdict.flagged = True
                verdict.flagged_at = verdict.scored_at
                self.flags_raised += 1
                self._raise(verdict, at, reason_kind(per_feature))
        if verdict.flagged:
            facts += self._tell_buyers(verdict, st, batch.times[i])
        verdicts[account_id] = verdict
        if self.on_verdict is not None and _summary(verdict) != before:
            self.on_verdict(
                msgspec.structs.replace(verdict, reasons=list(verdict.reasons), buyers=list(verdict.buyers))
            )
        return score, verdict.flagged

    def _note(self, tables: RarityTables) -> Callable[[int, float], str]:
        estimator = self.estimator

        def note(j: int, rarity: float) -> str:
            return estimator.strength_note(j, rarity, tables)

        return note

    def _raise(self, verdict: Verdict, at: datetime, kind: str) -> None:
        if self.on_flag is not None:
            self.on_flag(
                Flag(
                    verdict.account_id,
                    verdict.site,
                    verdict.flagged_at or at,
                    verdict.score,
                    self.threshold,
                    list(verdict.reasons),
                    self.model.version,
                    kind,
                )
            )

    @staticmethod
    def _tell_buyers(verdict: Verdict, st: AccountState, t: float) -> list[AnyFact]:
        """SellerFlagged facts for the accounts this flagged seller handed slots to, once each."""
        facts: list[AnyFact] = []
        for taker, slot in st.handoff_takers:
            if taker not in verdict.buyers:
                verdict.buyers.append(taker)
                facts.append(SellerFlagged(taker, t, verdict.account_id, slot))
        return facts

    def results(self) -> Iterator[Verdict]:
        """Every verdict, highest score first (ties by account id)."""
        return iter(sorted(self.verdicts.values(), key=lambda v: (-v.score, v.account_id)))
