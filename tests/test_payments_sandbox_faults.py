"""The sandbox's fault plan: seeded (reproducible), scripted outcomes first, rates honoured,
bad configurations refused."""

from __future__ import annotations

import pytest

from broker.payments.sandbox.faults import Fault, FaultPlan, NotifyDecision


def test_scripted_faults_come_first_then_the_rates() -> None:
    plan = FaultPlan.from_json({"endpoints": {"codepay": {
        "script": ["error", "timeout", "payerror", "ok"], "delay_ms": 7}}})
    decisions = [plan.decide("codepay") for _ in range(5)]
    assert [d.fault for d in decisions] == [Fault.ERROR, Fault.TIMEOUT, Fault.PAYERROR,
                                           Fault.OK, Fault.OK]
    assert all(d.delay_ms == 7 for d in decisions)
    assert plan.decide("query").fault is Fault.OK  # endpoints without faults are untouched


def test_the_same_seed_gives_the_same_run_and_rates_are_honoured() -> None:
    config = {"seed": 42, "endpoints": {"native": {"error_rate": 0.2, "timeout_rate": 0.1}},
              "notifications": {"duplicate_rate": 0.5, "max_delay_ms": 100}}
    a, b = FaultPlan.from_json(config), FaultPlan.from_json(config)
    run_a = [a.decide("native").fault for _ in range(2_000)]
    assert run_a == [b.decide("native").fault for _ in range(2_000)]
    assert 300 < run_a.count(Fault.ERROR) < 500 and 130 < run_a.count(Fault.TIMEOUT) < 270
    notes = [a.decide_notification() for _ in range(400)]
    assert notes == [b.decide_notification() for _ in range(400)]
    assert 150 < sum(n.copies == 2 for n in notes) < 250
    assert all(0 <= n.delay_ms <= 100 for n in notes)


def test_notification_script() -> None:
    plan = FaultPlan.from_json({"notifications": {"script": ["drop", "duplicate", "delay"],
                                                  "max_delay_ms": 300}})
    assert [plan.decide_notification() for _ in range(3)] == [
        NotifyDecision(drop_first=True), NotifyDecision(copies=2), NotifyDecision(delay_ms=300)]
    after = plan.decide_notification()  # then the rates: no duplicates or drops configured
    assert (after.copies, after.drop_first) == (1, False)


@pytest.mark.parametrize("config", [
    {"endpoints": {"pay": {}}}, {"endpoints": {"native": {"error_rate": 2}}},
    {"endpoints": {"native": {"script": ["explode"]}}}, {"seeds": 1},
    {"notifications": {"drop_rate": -0.1}}, {"endpoints": {"native": {"delay_ms": 1.5}}},
])
def test_bad_configurations_are_refused(config: dict) -> None:
    with pytest.raises(ValueError):
        FaultPlan.from_json(config)


def test_the_plan_round_trips_through_json() -> None:
    config = {"seed": 3, "hang_ms": 900, "endpoints": {"refund": {
        "delay_ms": 5, "error_rate": 0.1, "timeout_rate": 0.0, "payerror_rate": 0.0,
        "script": ["timeout"]}}, "notifications": {"duplicate_rate": 0.0, "max_delay_ms": 0,
                                                    "drop_rate": 0.5, "script": []}}
    assert FaultPlan.from_json(config).to_json() == config
