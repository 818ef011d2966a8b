"""infra/stack.yaml: a two-AZ VPC with NAT, a locked-down cache, and the token in Secrets Manager."""

from __future__ import annotations

from typing import Any

from chalicelib.config import IDENTITY_SECRET_MIN_CHARS
from deploy import infra, scanners
from deploy.stages import INFRA_TEMPLATE


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def ref_name(value: Any) -> str:
    """The resource a Ref or GetAtt points at."""
    if "Ref" in value:
        return value["Ref"]
    return value["Fn::GetAtt"][0]


def test_cfn_lint_passes_on_the_infra_template():
    done = scanners.cfn_lint(INFRA_TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_vpc_has_a_public_and_a_private_subnet_in_each_of_two_availability_zones(infra_template):
    subnets = of_type(infra_template, "AWS::EC2::Subnet")
    zones = {name: r["Properties"]["AvailabilityZone"]["Fn::Select"][0] for name, r in subnets.items()}
    assert zones == {"PublicSubnetA": 0, "PublicSubnetB": 1, "PrivateSubnetA": 0, "PrivateSubnetB": 1}
    assert all(r["Properties"].get("MapPublicIpOnLaunch") is not True for r in subnets.values())


def test_private_subnets_reach_the_internet_only_through_a_nat_gateway(infra_template):
    routes = of_type(infra_template, "AWS::EC2::Route")
    associations = of_type(infra_template, "AWS::EC2::SubnetRouteTableAssociation")
    table_of = {
        ref_name(a["Properties"]["SubnetId"]): ref_name(a["Properties"]["RouteTableId"]) for a in associations.values()
    }
    default_route = {ref_name(r["Properties"]["RouteTableId"]): r["Properties"] for r in routes.values()}
    for subnet in ("PrivateSubnetA", "PrivateSubnetB"):
        route = default_route[table_of[subnet]]
        assert "NatGatewayId" in route and "GatewayId" not in route
    for subnet in ("PublicSubnetA", "PublicSubnetB"):
        assert ref_name(default_route[table_of[subnet]]["GatewayId"]) == "InternetGateway"
    nat = of_type(infra_template, "AWS::EC2::NatGateway")
    assert {ref_name(n["Properties"]["SubnetId"]) for n in nat.values()} == {"PublicSubnetA", "PublicSubnetB"}
    assert infra_template["Parameters"]["NatGatewayPerAz"]["Default"] == "false"  # one NAT unless asked


def test_the_cache_accepts_only_the_lambda_security_group_and_only_on_its_port(infra_template):
    groups = of_type(infra_template, "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in groups["CacheSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in groups["LambdaSecurityGroup"]["Properties"]  # nothing may call in
    rules = [
        r["Properties"]
        for r in of_type(infra_template, "AWS::EC2::SecurityGroupIngress").values()
        if ref_name(r["Properties"]["GroupId"]) == "CacheSecurityGroup"
    ]
    assert len(rules) == 1
    rule = rules[0]
    assert ref_name(rule["SourceSecurityGroupId"]) == "LambdaSecurityGroup"
    assert rule["IpProtocol"] == "tcp"
    assert rule["FromPort"] == rule["ToPort"] == {"Ref": "CachePort"}
    assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(rule)


def test_the_lambdas_may_leave_only_for_https_and_the_cache_port(infra_template):
    lambda_sg = infra_template["Resources"]["LambdaSecurityGroup"]["Properties"]
    assert [(e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in lambda_sg["SecurityGroupEgress"]] == [
        ("tcp", 443, 443)
    ]
    to_cache = infra_template["Resources"]["LambdaToCache"]["Properties"]
    assert ref_name(to_cache["DestinationSecurityGroupId"]) == "CacheSecurityGroup"
    assert to_cache["FromPort"] == to_cache["ToPort"] == {"Ref": "CachePort"}


def test_the_cache_is_a_multi_az_valkey_replication_group_with_failover_and_encryption(infra_template):
    cache = infra_template["Resources"]["Cache"]
    assert cache["Type"] == "AWS::ElastiCache::ReplicationGroup"
    props = cache["Properties"]
    assert props["Engine"] == "valkey"
    assert props["MultiAZEnabled"] is True and props["AutomaticFailoverEnabled"] is True
    assert props["AtRestEncryptionEnabled"] is True and props["TransitEncryptionEnabled"] is True
    assert props.get("TransitEncryptionMode", "required") == "required"  # never "preferred" (plain text allowed)
    assert [ref_name(g) for g in props["SecurityGroupIds"]] == ["CacheSecurityGroup"]
    subnet_group = infra_template["Resources"]["CacheSubnetGroup"]["Properties"]
    assert [ref_name(s) for s in subnet_group["SubnetIds"]] == ["PrivateSubnetA", "PrivateSubnetB"]
    replicas = infra_template["Parameters"]["ReplicasPerShard"]
    assert min(replicas["AllowedValues"]) >= 1  # failover needs a replica in the other zone


def test_the_auth_token_is_generated_into_secrets_manager_and_resolved_at_deploy_time(infra_template):
    props = infra_template["Resources"]["Cache"]["Properties"]
    assert props["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${AuthTokenSecret}:SecretString}}"}
    secret = infra_template["Resources"]["AuthTokenSecret"]
    generated = secret["Properties"]["GenerateSecretString"]
    assert 16 <= generated["PasswordLength"] <= 128 and generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]
    assert not any("token" in name.lower() for name in infra_template["Parameters"])


def test_the_identity_secret_is_generated_into_secrets_manager_and_is_an_output(infra_template):
    secret = infra_template["Resources"]["IdentitySecret"]
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= IDENTITY_SECRET_MIN_CHARS and generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]
    assert infra_template["Outputs"][infra.OUT_IDENTITY_SECRET]["Value"] == {"Ref": "IdentitySecret"}
    assert len(INFRA_TEMPLATE.read_bytes()) < infra.TEMPLATE_BODY_LIMIT  # still sent inline


def test_every_parameter_has_a_default(infra_template):
    assert all("Default" in p for p in infra_template["Parameters"].values())


def test_the_outputs_are_everything_the_app_needs(infra_template):
    assert set(infra.REQUIRED_OUTPUTS) <= set(infra_template["Outputs"])
    redis_url = infra_template["Outputs"]["RedisUrl"]["Value"]["Fn::If"]
    assert all(branch["Fn::Sub"].startswith("rediss://") and "@" not in branch["Fn::Sub"] for branch in redis_url[1:])
