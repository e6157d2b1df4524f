#!/usr/bin/env python3
"""The shipped profiles of the orchestration patterns, and their demos: each
demo runs offline from a fresh build and shows its pattern working, and the
pipeline, router and research demos also run against the fake Mistral
server with no off-spec request."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
from lib import FakeMistral, check, contains, eq, of_type, one, run, test  # noqa: E402

SERVER = FakeMistral()

PROFILES = ["pipeline.json", "router.json", "research.json", "compete.json", "manager.json", "recursive.json",
            "support.json", "stateful.json", "events.json", "finance.json", "deal.json"]

# The demo command of each profile, as doc/patterns.md gives it.
PIPELINE = "/run data_analysis Analyse our web shop's Q3 2025 orders by region"
TECHNICAL = "/run triage Our Docker build fails on CI with \"no space left on device\" since Monday"
NONSENSE = "/run triage Any good restaurants in Lisbon?"
RESEARCH = "/run research_report Should our urban parcel delivery fleet switch to electric vans by 2027?"
COMPETE = ("/run investment_committee We have a 500,000 EUR cash surplus we will not need for 18 months. "
           "How should we place it?")
MANAGER = "/run launch_plan Prepare a one-page brief on launching our Pro plan in Germany next quarter"
RECURSIVE = ("/run migration_plan Plan the migration of our billing service from MySQL 5.7 to PostgreSQL 16 "
             "with at most 5 minutes of downtime")
SUPPORT = "/start sales The desktop app crashes every time I export a report"
INCIDENT = ("/run incident Checkout is failing for some customers since 14:05 UTC: 502 errors on /api/checkout, "
            "about 12% of requests")
PAYMENT = ("/emit payment.failed {\"order\": \"A-1043\", \"customer\": \"Marco Bianchi\", \"amount\": \"59.00 EUR\", "
           "\"reason\": \"card_declined\", \"attempt\": 1}")
ORDER = ("/emit order.created {\"order\": \"A-1042\", \"customer\": \"Lena Vogt\", \"items\": 3, "
         "\"total\": \"184.90 EUR\", \"ship_to\": \"Leipzig, DE\"}")
DEAL = ("/start coordinator Assess the risk of this deal: Bricomat SAS, construction, rating BB, "
        "a 2.4 million EUR term loan over 5 years")


def steps(events, status=None):
    return [(e["step"], e["status"]) for e in of_type(events, "pattern.step") if not status or e["status"] == status]


def replies(events):
    return [(e["agent"], e["content"]) for e in of_type(events, "message.output")]


def demo(profile, *commands):
    """Runs a demo offline; it must exit 0 with a done pattern (if any)."""
    args = []
    for c in commands:
        args += ["-c", c]
    result = run(args, profile=profile)
    eq(result.status, 0, "exit status")
    for done in of_type(result.events, "pattern.done"):
        eq(done["status"], "done", "pattern.done status")
    return result


@test
def every_shipped_profile_loads():
    for name in PROFILES:
        status, events, stderr = run(["--no-journal", "-c", "/agent list"], profile=name)
        eq((status, stderr), (0, ""), "%s: exit status and stderr" % name)
        check(len(one(events, "agent.list")["agents"]) >= 2, "%s: a team" % name)


@test
def pipeline_demo_runs_four_steps_each_on_the_one_before():
    status, events, stderr = demo("pipeline.json", PIPELINE)
    eq(steps(events, "done"), [("1", "done"), ("2", "done"), ("3", "done"), ("4", "done")], "four steps")
    eq([a for a, _ in replies(events)], ["collector", "cleaner", "analyst", "writer"], "in turn")
    inputs = [e["content"] for e in of_type(events, "message.input")]
    contains(inputs[1], "Clean the data collected above", "the cleaner gets its step prompt")
    out = dict(replies(events))
    contains(out["collector"], "appears twice", "the collector reports a duplicate")
    contains(out["cleaner"], "Removed the second 2025-08 Germany row", "which the cleaner removes")
    contains(out["analyst"], "467,418 EUR", "the analyst totals the cleaned data")
    eq(one(events, "pattern.done")["workflow"], "data_analysis", "the workflow")


@test
def router_sends_a_technical_question_to_technical():
    status, events, stderr = demo("router.json", TECHNICAL)
    eq(replies(events)[0], ("classifier", "technical"), "the classifier answers a bare label")
    eq([(e["step"], e["agent"]) for e in of_type(events, "pattern.step") if e["status"] == "done"],
       [("classify", "classifier"), ("route", "technical")], "routed")
    contains(one(events, "pattern.done")["output"], "docker builder prune", "technical's answer")


@test
def router_sends_an_unknown_label_to_the_fallback():
    status, events, stderr = demo("router.json", NONSENSE)
    eq(replies(events)[0], ("classifier", "general"), "a label no route has")
    unmatched = [e for e in of_type(events, "pattern.step") if e["status"] == "unmatched"]
    eq(len(unmatched), 1, "one unmatched step")
    contains(unmatched[0]["message"], "the label \"general\" matches no route", "says so")
    eq([e["agent"] for e in of_type(events, "pattern.step") if e["step"] == "route" and e["status"] == "done"],
       ["research"], "the fallback route takes it")


@test
def research_demo_fans_out_and_the_synthesizer_combines():
    status, events, stderr = demo("research.json", RESEARCH)
    started = [e["step"] for e in of_type(events, "pattern.step") if e["status"] == "started"]
    eq(started, ["market", "technology", "policy", "fan-in"], "three branches, then the fan-in")
    fanin = [e for e in of_type(events, "message.input") if e["agent"] == "synthesizer"][0]["content"]
    for part in ("## market (market)", "## technology (technology)", "## policy (policy)"):
        contains(fanin, part, "the synthesizer gets each branch")
    contains(one(events, "pattern.done")["output"], "Recommendation: switch in phases", "the synthesis")


@test
def compete_demo_judges_three_analysts():
    status, events, stderr = demo("compete.json", COMPETE)
    eq(sorted(a for a, _ in replies(events)[:3]), ["aggressive", "balanced", "conservative"], "three analysts")
    eq(replies(events)[3][0], "judge", "then the judge")
    contains(one(events, "pattern.done")["output"], "Recommendation: the balanced plan", "the judge recommends")
    with open(lib.profile("compete.json"), encoding="utf-8") as f:
        temps = {a["name"]: a.get("completion_args", {}).get("temperature") for a in json.load(f)["agents"]}
    eq((temps["conservative"], temps["aggressive"], temps["balanced"]), (0.2, 0.8, 0.5), "temperatures")


@test
def manager_demo_plans_with_dependencies_and_answers():
    status, events, stderr = demo("manager.json", MANAGER)
    eq(one(events, "pattern.done")["steps"], 6, "plan, four subtasks, answer")
    planned = [e for e in of_type(events, "pattern.step") if e["status"] == "planned"]
    eq(planned[0]["message"], "4 subtasks", "the plan is valid JSON")
    deps = {e["step"]: e.get("depends_on", []) for e in of_type(events, "pattern.step") if e["status"] == "started"}
    eq(deps["pricing"], ["market"], "pricing waits for the market")
    eq(deps["brief"], ["market", "compliance", "pricing"], "the brief waits for all")
    order = steps(events)
    check(order.index(("compliance", "started")) < order.index(("market", "done")),
          "market and compliance run at once: %s" % order)
    analyst = [e for e in of_type(events, "message.input") if e["agent"] == "analyst"][0]["content"]
    contains(analyst, "Results of earlier subtasks you can use", "the analyst gets the market results")
    contains(one(events, "pattern.done")["output"], "Launch brief: Acme Cloud Pro in Germany", "the answer")


@test
def recursive_demo_builds_a_two_level_tree():
    status, events, stderr = demo("recursive.json", RECURSIVE)
    nodes = {e["step"]: e.get("parent") for e in of_type(events, "pattern.step")
             if e["status"] == "started" and e["agent"] == "decomposer"}
    eq(nodes, {"1": None, "1.1": "1", "1.2": "1", "1.3": "1", "1.1.1": "1.1", "1.1.2": "1.1", "1.2.1": "1.2",
               "1.2.2": "1.2"}, "the tree")
    executed = sorted(e["step"] for e in of_type(events, "pattern.step")
                      if e["status"] == "done" and e["agent"] == "executor")
    eq(executed, ["1.1.1:exec", "1.1.2:exec", "1.2.1:exec", "1.2.2:exec", "1.3:exec"], "the leaves")
    eq(sorted(s for s, _ in steps(events, "combining")), ["1", "1.1", "1.2"], "combined upwards")
    contains(one(events, "pattern.done")["output"], "Migration plan: billing from MySQL 5.7", "the plan")


@test
def support_hands_off_with_a_text_marker():
    status, events, stderr = demo("support.json", SUPPORT)
    handoff = one(events, "agent.handoff")
    eq((handoff["previous_agent"], handoff["next_agent"], handoff["execution"]), ("sales", "technical", "marker"),
       "the marker's handoff")
    eq([a for a, _ in replies(events)], ["sales", "technical"], "then technical answers")
    contains(replies(events)[0][1], "HANDOFF: TECHNICAL", "sales wrote the marker")


@test
def stateful_demo_moves_the_incident_along():
    status, events, stderr = demo("stateful.json", INCIDENT, "/state show")
    inputs = of_type(events, "message.input")
    eq(len(inputs), 4, "four steps")
    for e in inputs:
        check(e["content"].startswith("CURRENT STATE: {"), "the state is injected: %s" % e["content"][:60])
    contains(inputs[1]["content"], "\"stage\":\"triaged\"", "the investigator sees the triage")
    reads = [e for e in of_type(events, "state") if e["change"] == "read"]
    eq([(e["agent"], e["state"]["stage"]) for e in reads],
       [("triage", "triaged"), ("investigator", "diagnosed"), ("fixer", "mitigated"), ("scribe", "resolved")],
       "each agent moves the stage")
    final = of_type(events, "state")[-1]
    eq(final["change"], "show", "/state show")
    eq((final["state"]["incident"], final["state"]["severity"], final["state"]["action"]),
       ("INC-2041", "SEV2", "rollback to 4.17.3"), "the merged state keeps every agent's keys")


@test
def events_demo_reaches_the_handlers():
    status, events, stderr = demo("events.json", "/handlers", ORDER, PAYMENT)
    eq(one(events, "handler.list")["handlers"],
       {"order.created": ["fulfilment"], "payment.failed": ["billing"], "inventory.low": ["purchasing"]},
       "the profile's handlers")
    eq([(e["event"], e["handlers"]) for e in of_type(events, "event.emitted")],
       [("order.created", ["fulfilment"]), ("payment.failed", ["billing"])], "emitted")
    eq([e["content"][:22] for e in of_type(events, "message.input")],
       ["EVENT order.created: {", "EVENT payment.failed: "], "what the handlers get")
    out = dict(replies(events))
    contains(out["fulfilment"], "Order A-1042 accepted: 3 items, 184.90 EUR, for Lena Vogt", "fulfilment")
    contains(out["billing"], "attempt 1 of 3", "billing")


@test
def deal_hands_off_and_uses_the_functions_result():
    status, events, stderr = demo("deal.json", DEAL)
    eq(one(events, "agent.handoff")["next_agent"], "risk", "the coordinator hands off")
    call = one(events, "function.call")
    eq(call["name"], "calculate_risk_score", "the function")
    result = json.loads(one(events, "function.result")["result"])
    eq((result["score"], result["band"]), (63, "high"), "the script's score")
    out = replies(events)[-1]
    eq(out[0], "risk", "risk answers")
    contains(out[1], "Risk score: 63 out of 99, band high", "with the result")
    contains(out[1], "refer to the credit committee", "and its recommendation")


@test
def finance_still_works():
    status, events, stderr = demo("finance.json", "/start finance What was the ECB interest rate in 2023?")
    contains(replies(events)[-1][1], "4.50%", "the rate")


@test
def run_lists_the_workflows_and_runs_one():
    status, events, stderr = run(["--keep-going", "-c", "/run nothing at all", "-c", PIPELINE], profile="pipeline.json")
    eq(status, 1, "exit status: the first command failed")
    eq(one(events, "error")["message"], "no workflow named \"nothing\" (workflows: data_analysis)", "the list")
    done = one(events, "pattern.done")
    eq((done["status"], done["workflow"]), ("done", "data_analysis"), "the workflow ran")
    status, events, stderr = run(["-c", "/run nope x"], profile="router.json")
    eq(one(events, "error")["message"], "no workflow named \"nope\" (workflows: triage)", "router's")


# ---- against the fake Mistral server ------------------------------------------


def fresh(*profiles):
    if SERVER.url is None and SERVER.start() is None:
        raise lib.Skip("no OpenAPI spec in ../shared: the fake Mistral server cannot run")
    SERVER.reset(script=lib.offline_script(*profiles))


def no_rejections():
    eq(SERVER.rejections(), [], "requests the fake server rejected as off-spec")


def same_on_the_server(profile, command):
    """Runs a demo offline and on the fake server: the same steps and replies."""
    offline = demo(profile, command)
    fresh(profile)
    status, events, stderr = SERVER.run(["-c", command], profile=profile)
    eq(status, 0, "exit status on the server")
    eq(sorted(steps(events)), sorted(steps(offline.events)), "the same steps as offline (branches end in any order)")
    eq(sorted(replies(events)), sorted(replies(offline.events)), "the same replies as offline")
    no_rejections()
    return events


@test
def pipeline_demo_on_the_server():
    same_on_the_server("pipeline.json", PIPELINE)


@test
def router_demo_on_the_server():
    events = same_on_the_server("router.json", TECHNICAL)
    eq(replies(events)[-1][0], "technical", "routed")


@test
def research_demo_on_the_server():
    same_on_the_server("research.json", RESEARCH)


if __name__ == "__main__":
    try:
        lib.main()
    finally:
        SERVER.stop()
