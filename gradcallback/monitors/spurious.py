"""`SpuriousGroups`: how much attribution goes to tokens that should not matter, with alerts."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from ..alerts import Alert
from ..analysis.groups import (
    SpuriousAttributionError,
    check_groups,
    group_masks,
    membership_z,
    never_matching,
    offenders_table,
    shares_and_presence,
    shares_by_class,
    where_present,
    z_ceiling,
)
from ..attribution import Attribution
from ..remedies.prior import AttributionPrior
from ..validate import choice, fraction, positive_int
from ..views.tables import escape_markdown
from .base import DEFAULT_METHOD, Monitor, check_name

STATISTICS = ("where_present", "overall")
# The default rule, chosen on the selection half of benchmarks/alert_study.py (DETECTION.md, "The alert
# statistic, rule by rule"): the group's where-present share stands more than DEFAULT_Z standard errors
# above shuffled group membership, from the second logged step on, for DEFAULT_PATIENCE logged steps running.
DEFAULT_Z = 4.0
DEFAULT_PATIENCE = 2
DEFAULT_RISE = 0.2  # the default rule until 0.4: a rise of the where-present share over the first logged step
ACTIONS = ("warn", "stop", "raise", "penalize")
# The prior a self-correcting run attaches at an alert, mid-run, chosen on seed 2 of benchmarks/remedies.py's
# mid-run rows (REMEDIES.md, "Attached mid-run"): the input-gradient penalty that suits a prior attached before
# training (AttributionPrior's default) collapsed a tiny BERT that had learned the cue to one class at weights
# 1-100; the group's share of the gradient mass cannot be lowered by flattening every gradient, and at 1000 it
# took the flip rate under 0.2 in 2 of 4 scenarios there with clean accuracy kept. On the pretrained MiniLM it
# corrected none of 4 runs (REMEDIES.md, "The default mid-run prior on the real MiniLM"): no weight chosen on one
# model is known to suit every model mid-run.
PENALIZE_METHOD = "share"
PENALIZE_WEIGHT = 1000.0


def _per_group(name: str, value: Any, groups: dict, high: float = 1.0) -> dict[str, float]:
    """A number for every group, or a dict group -> number (groups left out get none)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(groups))
        if unknown:
            raise ValueError(f"Expected {name} keys among the groups {sorted(groups)}. Received: {name}={value!r}")
        return {g: fraction(name, v, 0.0, high) for g, v in value.items()}
    return {g: fraction(name, value, 0.0, high) for g in groups}


class SpuriousGroups(Monitor):
    """Each logged step, every group's share of the attribution mass of `method`; alerts when a group's
    statistic crosses its limit for `patience` consecutive logged steps.

    Args:
        groups: name -> list of words and phrases, a compiled regex, or "special_tokens". A word counts
            with all its pieces (the tokenizer's own word-piece scheme), case and accents ignored; an
            entry with spaces ("quiet river") matches its words where they are adjacent. A regex is
            matched against single words: to watch a phrase, list it as an entry with spaces. Before
            training, an entry that occurs in no probe, or that the tokenizer cannot produce (it
            becomes [UNK], or pieces that do not join back into it), gets one warning per group
            (a ValueError in strict mode).
        threshold: alert when the statistic exceeds this share (a number for every group, or a dict).
        rise: alert when the statistic exceeds its value at the run's first logged step by this much.
        z: alert when the group's where-present share stands more than this many standard errors above
            shuffled group membership (`analysis.groups.membership_z`: the group's tokens swapped for as
            many random content tokens of the same probes; model-free, in the null's units), from the
            run's second logged step on (the first runs before any training: a new classifier head's
            attributions say nothing yet, and a pretrained encoder already attends to names).
            With none of threshold, rise and z given, the default rule: z > 4 for 2 logged steps running
            (integrated gradients). It was chosen among 96 rules on the selection half of fresh runs
            (benchmarks/alert_study.py, DETECTION.md "The alert statistic, rule by rule"); on the report
            half it caught 17/17 learned shortcuts in real snippets and 10/10 in synthetic sentences
            within one logged step, with no alert in 7 and 6 runs whose watched word the model did not
            use (the rule before it, a rise of 0.2 in the share, caught 16/17 and 10/10). An absolute
            share threshold suits one model's shares and not another's (MiniLM starts a two-piece name
            at 0.49).
        statistic: "where_present" (mean share over the probes that contain the group; the mean over
            all probes is diluted by probes without it) or "overall": what threshold and rise read.
        on_alert: "warn" (a warning and an `Alert`, written under `<name>/alerts`), "stop" (also: training
            stops at the end of the epoch; the callback's `stop_reason` is the alert's message) or
            "raise" (`SpuriousAttributionError`, the `Alert` on its `alert`) or "penalize" (a run that
            corrects itself: an `AttributionPrior` on the alerted group, `prior_weight` and `prior_method`
            (by default the group's share of the gradient mass at weight 1000: see PENALIZE_METHOD), is
            attached to the model and trains from the next epoch, or the next batch in `every_n_steps`
            mode; the train function is rebuilt once. The alert says from which step; a records row of
            kind "prior" too. The prior stays attached after `fit`: `detach_priors()` removes it).
        patience: consecutive logged steps over a limit before acting (None: 2 for the default rule, else 1).
        method: the attribution method read (integrated gradients by default: see DETECTION.md).

    Tags: `<name>/<group>/share` (overall) and `/share/class_<c>` (per predicted class),
    `<name>/<group>/z` (against shuffled membership), `<name>/<group>/where_present` (or the text
    `<name>/<group>/not_present` at a step when no probe
    contains the group), `<name>/<group>/offenders`, `<name>/alerts`.
    """

    def __init__(self, groups: dict, *, threshold: float | dict | None = None, rise: float | dict | None = None,
                 z: float | dict | None = None, statistic: str = "where_present", on_alert: str = "warn",
                 patience: int | None = None, method: str = DEFAULT_METHOD, name: str = "spurious",
                 prior_weight: float = PENALIZE_WEIGHT, prior_method: str = PENALIZE_METHOD):
        self.groups = check_groups(groups)
        # built (and validated) now; attached at an alert when on_alert="penalize"
        self.priors = {g: AttributionPrior({g: spec}, weight=prior_weight, method=prior_method)
                       for g, spec in groups.items()}
        default = threshold is None and rise is None and z is None
        self.thresholds = _per_group("threshold", threshold, self.groups)
        self.rises = _per_group("rise", rise, self.groups)
        self.zs = _per_group("z", DEFAULT_Z if default else z, self.groups, high=1000.0)
        self.fallback: dict[str, float] = {}  # group -> the rise that judges it where z cannot (`check`)
        self.statistic = choice("statistic", statistic, STATISTICS)
        self.on_alert = choice("on_alert", on_alert, ACTIONS)
        self.patience = positive_int("patience", (DEFAULT_PATIENCE if default else 1) if patience is None else patience)
        self.method, self.name = method, check_name(name)
        self.stop_reason: str | None = None

    def check(self, context: Any) -> None:
        """Warn once per group (raise when strict) about entries that can match no probe: the
        monitor would track nothing for them, and say nothing. And a group whose z the probes cannot
        lift over its limit (`z_ceiling`: too few or too short probes hold it) is judged by a rise of
        DEFAULT_RISE in its share instead, with one warning that says so (none for a group that matches
        no probe at all: the first warning said it)."""
        self.fallback, unmatched = {}, set()
        for group, spec in self.groups.items():
            problems = never_matching(context.explainer.tokenizer, context.encodings or [], spec)
            if problems:
                if len(problems) == len(spec.entries):
                    unmatched.add(group)  # its ceiling is 0: the warning below would say nothing more
                message = (f"SpuriousGroups group {group!r} has entries that can never match a probe: "
                           + "; ".join(f"{entry!r}: {why}" for entry, why in problems)
                           + f". Received: groups[{group!r}]={list(spec.entries)!r}")
                if getattr(context, "strict", False):
                    raise ValueError(message)
                warnings.warn(message, stacklevel=2)
        for group in self.zs:
            ceiling = z_ceiling(context.explainer.tokenizer, context.encodings or [], self.groups[group])
            if ceiling <= self.zs[group]:
                self.fallback[group] = DEFAULT_RISE
                if group in unmatched:
                    continue
                warnings.warn(f"SpuriousGroups group {group!r}: on these probes its z against shuffled membership "
                              f"can reach {ceiling:.1f} at most (all the attribution on the group), not over its "
                              f"limit {self.zs[group]:g}: too few or too short probes hold it. It is judged by a rise "
                              f"of {DEFAULT_RISE:g} in its {self.statistic.replace('_', ' ')} share instead; more "
                              f"probes holding it raise the ceiling. Received: z={self.zs[group]:g}", stacklevel=2)

    def start(self, context: Any, step: int) -> None:
        """Forget any earlier run: no first values, strikes or latest statistics."""
        self.context = context
        self.first: dict[str, float] = {}
        self.strikes = {group: 0 for group in self.groups}
        self.latest: dict[str, float] = {}
        self.latest_z: dict[str, float] = {}
        self.index = -1  # logged steps of this run before the current one
        self.penalized: dict[str, int] = {}  # group -> the first step its prior trained

    def log(self, step: int, attributions: Sequence[Attribution]) -> list[Alert]:
        """Write each group's shares and offenders; alert for a group over its limit `patience` logged steps running."""
        events, about = self.context.events, f"method: {self.method}"
        self.index += 1
        for group, spec in self.groups.items():
            masks = group_masks(attributions, spec)  # one mask per probe serves every figure
            shares, holds = shares_and_presence(attributions, spec, masks)
            events.scalar(f"{self.name}/{group}/share", float(shares.mean()), step,
                          f"{about}; mean share of attribution mass over all probes")
            for label, value in shares_by_class(attributions, shares).items():
                events.scalar(f"{self.name}/{group}/share/class_{label}", value, step,
                              f"{about}; probes predicted as class {label}")
            present = where_present(shares, holds)
            if present is not None:
                events.scalar(f"{self.name}/{group}/where_present", present, step,
                              f"{about}; mean share over the probes that contain the group")
                self.latest_z[group] = membership_z(attributions, spec, masks=masks)["z"]
                events.scalar(f"{self.name}/{group}/z", self.latest_z[group], step,
                              f"{about}; where-present share against shuffled group membership, in standard errors")
            else:  # said, not left out: a missing curve reads like a broken writer
                self.latest_z[group] = 0.0
                events.text(f"{self.name}/{group}/not_present", escape_markdown(
                    f"No probe contains group {group!r} at step {step}: its where-present share is undefined "
                    f"(read as 0)."), step, about)
            events.text(f"{self.name}/{group}/offenders", offenders_table(attributions, spec), step, about)
            # the alert statistic: the mean share over all probes, or over those holding the group (0 when none)
            self.latest[group] = float(shares.mean()) if self.statistic == "overall" else (present or 0.0)
            self.first.setdefault(group, self.latest[group])
        return [alert for group in self.groups if (alert := self._judge(group, step))]

    def _limit(self, group: str) -> float:
        """The statistic's limit for `group`: the lower of its threshold and first value + rise."""
        limits = [self.thresholds[group]] if group in self.thresholds else []
        rise = self.rises.get(group, self.fallback.get(group))
        limits += [self.first[group] + rise] if rise is not None else []
        return min(limits) if limits else float("inf")

    def _over_z(self, group: str) -> bool:
        """The z rule: from the run's second logged step on (the first runs before any training)."""
        return (group in self.zs and group not in self.fallback and self.index >= 1
                and self.latest_z[group] > self.zs[group])

    def _judge(self, group: str, step: int) -> Alert | None:
        over = self.latest[group] > self._limit(group) or self._over_z(group)
        self.strikes[group] = self.strikes[group] + 1 if over else 0
        return self._act(group, step) if self.strikes[group] == self.patience else None

    def _act(self, group: str, step: int) -> Alert:
        statistic, share = self.statistic.replace("_", " "), self.latest[group]
        held = f"for {self.patience} logged step(s)"
        if self._over_z(group):
            value, limit, what = self.latest_z[group], self.zs[group], "z vs shuffled membership"
            message = (f"Spurious attribution: group {group!r} holds {share:.1%} of the attribution mass "
                       f"({self.method}, {statistic}) at step {step}, {value:.1f} standard errors above shuffled "
                       f"group membership (limit z {limit:g}, first logged step: {self.first[group]:.1%}) {held}.")
        else:
            value, limit, what = share, self._limit(group), f"{self.statistic} share"
            message = (f"Spurious attribution: group {group!r} holds {share:.1%} of the attribution mass "
                       f"({self.method}, {statistic}) at step {step}, above its limit "
                       f"{limit:.1%} (first logged step: {self.first[group]:.1%}) {held}.")
        if self.on_alert == "penalize":
            message += self._penalize(group, step)
        alert = self.alert(step, what, value, limit, message, subject=group, action=self.on_alert)
        if self.on_alert == "raise":  # the callback writes `error.alert` before the exception ends fit
            limits = {g: self._limit(g) for g in self.groups if g in self.thresholds or g in self.rises}
            raise SpuriousAttributionError(message, self.latest, limits, step, alert=alert)
        if self.on_alert == "stop":
            self.stop_reason = message
        warnings.warn(message, stacklevel=2)
        return alert

    def _penalize(self, group: str, step: int) -> str:
        """Attaches the group's prior (once per run) and says so: the sentence the alert's message gets."""
        prior = self.priors[group]
        if prior.attached:
            return f" Its AttributionPrior is on already (since step {self.penalized.get(group, 'an earlier run')})."
        explainer = self.context.explainer
        prior.attach(explainer.adapter.model, explainer.tokenizer)
        self.penalized[group] = step + 1
        if self.context.records is not None:
            self.context.records.write({"step": step, "kind": "prior", "group": group, "from_step": step + 1,
                                        "method": prior.method, "weight": prior.weight})
        return (f" Penalizing it: an AttributionPrior ({prior.method}, weight {prior.weight:g}) trains the model "
                f"from step {step + 1} on (the next epoch, or the next batch in every_n_steps mode).")

    def detach_priors(self) -> None:
        """Detach every prior `on_alert="penalize"` attached: the model trains with its plain loss again."""
        for prior in self.priors.values():
            prior.detach()

    def columns(self) -> list[tuple[str, str]]:
        """The report columns: each group's alert statistic."""
        tag = "where_present" if self.statistic == "where_present" else "share"
        return [(f"{group} {tag.replace('_', ' ')}", f"{self.name}/{group}/{tag}") for group in self.groups]

    def progress(self, step: int) -> str | None:
        """Its progress-line fragment: each group's latest alert statistic."""
        return ", ".join(f"{group} {value:.2f}" + (f" (z {self.latest_z[group]:.1f})" if group in self.zs else "")
                         for group, value in self.latest.items()) or None
