"""Plan runs, step by step: waiting for approval -> running -> done | failed; undone,
rejected, timed_out. The two-person rule: whoever started the run cannot approve its
steps. Every transition goes through `IncidentService.record` (audit chain + timeline).

Step states: pending, waiting_approval, running, done, failed, rejected, timed_out,
undone. A run is in the state of its open step until the last one is done; time-outs
are found by `tick()` (called by a loop on the same injected clock) and by any
decision that arrives too late.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import sqlalchemy as sa

from warroom.auth.roles import ROLES
from warroom.command import runstore
from warroom.command.actions import ACTIONS, ActionContext, Touch
from warroom.command.clock import Clock, parse_duration
from warroom.command.errors import Forbidden, InvalidTransition
from warroom.command.incidents import IncidentService
from warroom.command.orders import OrderSource
from warroom.command.plans import Plan, Step, bind, render
from warroom.command.tables import create

WAITING, RUNNING, DONE, FAILED = "waiting_approval", "running", "done", "failed"
REJECTED, TIMED_OUT, UNDONE, PENDING = "rejected", "timed_out", "undone", "pending"
FINAL = (DONE, FAILED, REJECTED, TIMED_OUT, UNDONE)


def role_satisfies(role: str, required: str) -> bool:
    """A role may approve for `required` if it holds every permission `required` has."""
    return role in ROLES and ROLES[role] >= ROLES.get(required, frozenset({"_"}))


class RunService:
    def __init__(
        self,
        *,
        engine: sa.Engine,
        clock: Clock,
        incidents: IncidentService,
        orders: OrderSource,
        broadcast: Any = None,
    ) -> None:
        self.engine, self.clock, self.incidents = engine, clock, incidents
        self.orders, self.broadcast = orders, broadcast
        create(engine)

    def _ctx(self, incident_id: int | None, actor: str | None = None) -> ActionContext:
        extra = {"incident_id": incident_id, "actor": actor}
        return ActionContext(self.engine, self.clock, self.orders, self.broadcast, extra)

    # -- before a run ---------------------------------------------------------------
    def dry_run(self, *, plan: Plan, params: dict[str, Any]) -> list[dict[str, Any]]:
        """What each step would touch now: counts and ids, nothing written."""
        scope, ctx = bind(plan, params), self._ctx(None)
        return [
            {
                "idx": i,
                "step": s.id,
                "action": s.action,
                "approve": s.approve,
                **ACTIONS[s.action].dry_run(ctx, scope=scope, args=render(s.args, params)).public(),
            }
            for i, s in enumerate(plan.steps)
        ]

    # -- the run --------------------------------------------------------------------
    def start(
        self, *, plan: Plan, params: dict[str, Any], by: str, incident_id: int | None = None
    ) -> int:
        bind(plan, params)  # refuse bad parameters before anything is written
        if incident_id is None:
            incident_id = self.incidents.declare(
                title=plan.title, commander=by, by=by, source=f"plan:{plan.name}"
            )
        now = self.clock.now_ms()
        run = {
            "plan": plan.name,
            "plan_doc": msgspec.json.encode(plan).decode(),  # later edits do not move a run
            "params": json.dumps(params, sort_keys=True),
            "incident_id": incident_id,
            "requested_by": by,
            "state": WAITING,
            "created_ms": now,
            "updated_ms": now,
        }
        steps = [
            {
                "idx": i,
                "step_id": s.id,
                "action": s.action,
                "state": PENDING,
                "result": "{}",
                "error": "",
            }
            for i, s in enumerate(plan.steps)
        ]
        run_id = runstore.insert_run(self.engine, run=run, steps=steps)
        self._record(run_id, by, "run.start", detail=f"plan {plan.name} {json.dumps(params)}")
        self._open(run_id, 0)
        return run_id

    def approve(self, *, run_id: int, idx: int, by: str, role: str) -> dict[str, Any]:
        run, step = self._decidable(run_id, idx, by, role, "approve")
        now = self.clock.now_ms()
        if not runstore.claim_step(
            self.engine, run_id, idx, expect=WAITING, state=RUNNING, decided_by=by, started_ms=now
        ):
            raise InvalidTransition(f"run {run_id} step {idx} was decided by someone else")
        self._set_run(run_id, RUNNING)
        self._record(run_id, by, "step.approve", idx=idx)
        plan, params = self._plan(run), json.loads(run["params"])
        scope, args = bind(plan, params), render(step.args, params)
        ctx, ref = self._ctx(run["incident_id"], actor=by), f"run:{run_id}/step:{idx}"
        try:
            applied = ACTIONS[step.action].apply(ctx, scope=scope, args=args, ref=ref)
        except Exception as exc:  # the step failed; the run stops and says why
            self._set_step(
                run_id, idx, state=FAILED, error=str(exc), finished_ms=self.clock.now_ms()
            )
            self._set_run(run_id, FAILED)
            self._record(run_id, "warroom", "step.run", idx=idx, result="failed", detail=str(exc))
            return self.get(run_id=run_id)
        result = {
            **run["steps"][idx]["result"],  # the preview the approver saw
            "applied": msgspec.to_builtins(applied),
        }
        self._set_step(
            run_id, idx, state=DONE, result=json.dumps(result), finished_ms=self.clock.now_ms()
        )
        self._record(
            run_id,
            "warroom",
            "step.run",
            idx=idx,
            detail=json.dumps(applied.counts, sort_keys=True),
        )
        if idx + 1 < len(plan.steps):
            self._open(run_id, idx + 1)
        else:
            self._set_run(run_id, DONE)
            self._record(run_id, "warroom", "run.done")
        return self.get(run_id=run_id)

    def reject(
        self, *, run_id: int, idx: int, by: str, role: str, reason: str = ""
    ) -> dict[str, Any]:
        self._decidable(run_id, idx, by, role, "reject")
        now = self.clock.now_ms()
        if not runstore.claim_step(
            self.engine,
            run_id,
            idx,
            expect=WAITING,
            state=REJECTED,
            decided_by=by,
            finished_ms=now,
            error=reason,
        ):
            raise InvalidTransition(f"run {run_id} step {idx} was decided by someone else")
        self._set_run(run_id, REJECTED)
        self._record(run_id, by, "step.reject", idx=idx, result="rejected", detail=reason)
        return self.get(run_id=run_id)

    def tick(self) -> list[tuple[int, int]]:
        """Time out every step whose approval is overdue; (run, step) of each."""
        now = self.clock.now_ms()
        overdue = runstore.overdue_steps(self.engine, state=WAITING, now_ms=now)
        for run_id, idx in overdue:
            self._set_step(run_id, idx, state=TIMED_OUT, finished_ms=now)
            self._set_run(run_id, TIMED_OUT)
            self._record(run_id, "warroom", "step.timeout", idx=idx, result="timed_out")
        return overdue

    def undo(self, *, run_id: int, by: str, role: str) -> dict[str, Any]:
        """Undo the done steps, newest first; steps with `undo: none` stay done."""
        run = self.get(run_id=run_id)
        if not role_satisfies(role, "commander"):
            self._record(run_id, by, "run.undo", result="denied", detail=f"role {role}")
            raise Forbidden(f"role {role} cannot undo a run")
        if run["state"] not in (DONE, FAILED, REJECTED, TIMED_OUT):
            raise InvalidTransition(f"run {run_id} is {run['state']}; undo needs it finished")
        plan, ctx = self._plan(run), self._ctx(run["incident_id"])
        for st in reversed(run["steps"]):
            step = plan.steps[st["idx"]]
            if st["state"] != DONE or step.undo != "auto":
                continue
            applied = msgspec.convert(st["result"]["applied"], Touch)
            ref = f"run:{run_id}/step:{st['idx']}"
            undone = ACTIONS[step.action].undo(ctx, ref=ref, applied=applied)
            self._set_step(run_id, st["idx"], state=UNDONE)
            self._record(
                run_id,
                by,
                "step.undo",
                idx=st["idx"],
                detail=json.dumps(undone.counts, sort_keys=True),
            )
        self._set_run(run_id, UNDONE)
        self._record(run_id, by, "run.undo")
        return self.get(run_id=run_id)

    # -- reading --------------------------------------------------------------------
    def get(self, *, run_id: int) -> dict[str, Any]:
        return runstore.get_run(self.engine, run_id)

    def list(self, *, incident_id: int | None = None) -> list[dict[str, Any]]:
        return runstore.list_runs(self.engine, incident_id=incident_id)

    # -- inside ---------------------------------------------------------------------
    def _plan(self, run: dict[str, Any]) -> Plan:
        return msgspec.json.decode(run["plan_doc"], type=Plan)

    def _open(self, run_id: int, idx: int) -> None:
        """Put step idx up for approval, with its dry run as the approver will see it."""
        run = self.get(run_id=run_id)
        plan, params = self._plan(run), json.loads(run["params"])
        step: Step = plan.steps[idx]
        try:
            preview = ACTIONS[step.action].dry_run(
                self._ctx(run["incident_id"]),
                scope=bind(plan, params),
                args=render(step.args, params),
            )
        except Exception as exc:  # what it would touch is unknown: nobody can approve it
            now = self.clock.now_ms()
            self._set_step(run_id, idx, state=FAILED, error=str(exc), finished_ms=now)
            self._set_run(run_id, FAILED)
            self._record(
                run_id, "warroom", "step.preview", idx=idx, result="failed", detail=str(exc)
            )
            return
        deadline = self.clock.now_ms() + parse_duration(step.timeout)
        self._set_step(
            run_id,
            idx,
            state=WAITING,
            deadline_ms=deadline,
            result=json.dumps({"preview": preview.public()}),
        )
        self._set_run(run_id, WAITING)
        self._record(
            run_id,
            "warroom",
            "step.waiting_approval",
            idx=idx,
            detail=f"needs {step.approve}; {json.dumps(preview.counts, sort_keys=True)}",
        )

    def _decidable(self, run_id: int, idx: int, by: str, role: str, verb: str) -> tuple[dict, Step]:
        self.tick()  # a decision after the deadline meets a timed-out step
        run = self.get(run_id=run_id)
        st = next((s for s in run["steps"] if s["idx"] == idx), None)
        if st is None or st["state"] != WAITING:
            state = st["state"] if st else "absent"
            raise InvalidTransition(f"run {run_id} step {idx} is {state}, not waiting_approval")
        step = self._plan(run).steps[idx]
        why = None
        if by == run["requested_by"]:
            why = f"two-person rule: {by} started this run and cannot {verb} its steps"
        elif not role_satisfies(role, step.approve):
            why = f"role {role} cannot {verb} a step that needs {step.approve}"
        if why:
            self._record(run_id, by, f"step.{verb}", idx=idx, result="denied", detail=why)
            raise Forbidden(why)
        return run, step

    def _set_step(self, run_id: int, idx: int, **values: Any) -> None:
        runstore.set_step(self.engine, run_id, idx, **values)

    def _set_run(self, run_id: int, state: str) -> None:
        runstore.set_run(self.engine, run_id, state=state, now_ms=self.clock.now_ms())

    def _record(
        self,
        run_id: int,
        actor: str,
        action: str,
        *,
        idx: int | None = None,
        result: str = "ok",
        detail: str = "",
    ) -> None:
        incident_id = runstore.incident_of(self.engine, run_id)
        target = f"run:{run_id}" + (f"/step:{idx}" if idx is not None else "")
        kind = "step" if action.startswith("step.") and actor == "warroom" else "decision"
        self.incidents.record(
            actor=actor,
            action=action,
            target=target,
            result=result,
            detail=detail,
            incident_id=incident_id,
            kind=kind,
        )
