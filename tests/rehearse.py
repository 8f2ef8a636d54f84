"""Deploy rehearsal: run the real Serverless transform offline and check what CloudFormation gets.

cfn-lint checks the SAM template against SAM's schemas, so it cannot see what only exists after
the transform (the API's generated OpenAPI body, the permissions, the cycles they make). This
transforms the template as `sam deploy` does and checks the result, one line per problem:

  circular dependency    resources that wait for each other (Ref, GetAtt, Sub, DependsOn)
  unresolved reference   a reference to no resource, parameter or pseudo parameter
  route missing          a route of the table not integrated with its function in the API
  permission missing     no AWS::Lambda::Permission lets the API invoke a route's function
  serverless type left   an AWS::Serverless::* resource the transform did not replace
  transform failed       the transform itself rejected the template

usage: python rehearse.py TEMPLATE --routes ROUTES.json [--out OUT.json] [--param Name=Value ...]

ROUTES.json is [{"function": "<binary>", "method": "POST", "path": "/token/"}, ...]; a path
ending in "/" must be declared without it too. Exits 1 on any problem, 0 with a summary.
"""

import argparse
import fnmatch
import json
import os
import re
import sys
from collections import deque

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NoValue",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}
SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class OfflinePolicyLoader:
    """The transform asks IAM for AWS managed policies only to expand their names in Policies."""

    def load(self):
        return {}


def references(node):
    """Yield (kind, logical id, attribute or None) for each Ref, Fn::GetAtt, Fn::Sub under node."""
    if isinstance(node, list):
        for item in node:
            yield from references(item)
    elif isinstance(node, dict):
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref" and isinstance(value, str):
                yield "Ref", value, None
                return
            if key == "Fn::GetAtt":
                # ["Name", "Attr"], or the "Name.Attr" string JSON templates may use.
                if isinstance(value, str):
                    name, _, attribute = value.partition(".")
                else:
                    name, attribute = value
                yield "GetAtt", name, attribute
                yield from references(attribute)
                return
            if key == "Fn::Sub":
                text, own = (value, {}) if isinstance(value, str) else value
                for variable in SUB_VARIABLE.findall(text):
                    # "${!Literal}" is written out as "${Literal}"; the Sub's own map shadows.
                    if variable.startswith("!") or variable in own:
                        continue
                    name, _, attribute = variable.partition(".")
                    yield "Sub", name, attribute or None
                yield from references(own)
                return
        for value in node.values():
            yield from references(value)


def referenced_ids(node):
    return {target for _, target, _ in references(node)}


def depends_on(resource):
    value = resource.get("DependsOn", [])
    return [value] if isinstance(value, str) else value


def dependencies(resources):
    """The resources each resource waits for, as CloudFormation orders creation."""
    return {
        name: (referenced_ids(resource) | set(depends_on(resource))) & resources.keys()
        for name, resource in resources.items()
    }


def reachable(graph, start):
    """Every resource that must exist before start can be created."""
    seen, todo = set(), list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


def shortest_cycle(graph, component):
    """One concrete loop through the component's first member, to show how the knot closes."""
    start = min(component)
    came_from = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return path[::-1] + [start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)


def check_cycles(resources):
    graph = dependencies(resources)
    reach = {name: reachable(graph, name) for name in graph}
    problems, reported = [], set()
    for name in sorted(graph):
        if name in reach[name] and name not in reported:
            # What this resource waits for that also waits for it is one knot: report it once.
            component = {other for other in reach[name] if name in reach[other]}
            reported |= component
            loop = " -> ".join(shortest_cycle(graph, component))
            problems.append(
                f"circular dependency among {len(component)} resources: "
                f"{', '.join(sorted(component))} (e.g. {loop})"
            )
    return problems


def check_references(template):
    resources = template.get("Resources", {})
    known = resources.keys() | template.get("Parameters", {}).keys() | PSEUDO_PARAMETERS
    problems = []
    for section in ("Resources", "Outputs"):
        for name, body in template.get(section, {}).items():
            for kind, target, attribute in references(body):
                # Attributes ("GetAtt", "${X.Attr}") only resources have.
                if target not in (resources.keys() if kind == "GetAtt" or attribute else known):
                    problems.append(f"unresolved reference: {section}.{name} -> {target} ({kind})")
            for target in depends_on(body) if section == "Resources" else []:
                if target not in resources:
                    problems.append(
                        f"unresolved reference: {section}.{name} -> {target} (DependsOn)"
                    )
    return problems


def spellings(path):
    """The route table gives paths with their trailing slash; the API must answer both."""
    return [path, path[:-1]] if path.endswith("/") and path != "/" else [path]


def integration_uri(paths, path, method):
    operation = paths.get(path, {}).get(method.lower(), {})
    return operation.get("x-amazon-apigateway-integration", {}).get("uri")


def permission_matches(permission, api, method, path):
    """Whether a SourceArn like "...:${__ApiId__}/${__Stage__}/POST/auth/login/*" admits the route.

    API Gateway checks the path without its trailing slash and with the request's values for the
    path parameters, so "x" stands in for them and the ARN's "*" must cover it.
    """
    source = permission["Properties"].get("SourceArn")
    if not isinstance(source, dict) or "Fn::Sub" not in source:
        return False
    text, own = (source["Fn::Sub"], {}) if isinstance(source["Fn::Sub"], str) else source["Fn::Sub"]
    api_token, _, rest = text.rpartition(":")[2].partition("/")
    api_variable = api_token.removeprefix("${").removesuffix("}")
    if own.get(api_variable, {"Ref": api_variable}) != {"Ref": api}:
        return False
    _stage, _, method_and_path = rest.partition("/")
    concrete = re.sub(r"\{[^}]+\}", "x", path.rstrip("/") or "/")
    return fnmatch.fnmatchcase(f"{method}{concrete}", method_and_path)


def check_routes(resources, routes):
    # The function's Metadata (BuildProperties.Binary) survives the transform on the
    # AWS::Lambda::Function, which keeps the Serverless::Function's logical id.
    functions = {
        resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary"): name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    apis = {
        name: resource["Properties"].get("Body", {}).get("paths", {})
        for name, resource in resources.items()
        if resource["Type"] == "AWS::ApiGatewayV2::Api"
    }
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    problems = []
    for route in routes:
        binary, method = route["function"], route["method"].upper()
        function = functions.get(binary)
        for path in spellings(route["path"]):
            label = f"{method} {path} -> {binary}"
            if function is None:
                problems.append(f"route missing: {label}: no function has Binary {binary}")
                continue
            integrated = [
                api
                for api, paths in apis.items()
                if function in referenced_ids(integration_uri(paths, path, method))
            ]
            if not integrated:
                problems.append(f"route missing: {label}: the API does not send it to {function}")
                continue
            if not any(
                function in referenced_ids(p["Properties"].get("FunctionName"))
                and permission_matches(p, api, method, path)
                for p in permissions
                for api in integrated
            ):
                problems.append(
                    f"permission missing: {label}: {integrated[0]} may not invoke {function}"
                )
    return problems


def check_serverless_left(resources):
    return [
        f"serverless type left: {name} is still {resource['Type']}"
        for name, resource in resources.items()
        if resource["Type"].startswith("AWS::Serverless::")
    ]


def parameter_values(template, given):
    """The transform resolves few parameters itself: required ones only need some value."""
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if "Default" not in spec:
            allowed = spec.get("AllowedValues", [f"rehearsal-{name}"])
            values[name] = str(allowed[0])
    return {**values, **given}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template")
    parser.add_argument("--routes", required=True, help="JSON list of {function, method, path}")
    parser.add_argument("--out", help="write the transformed CloudFormation template here (JSON)")
    parser.add_argument("--param", action="append", default=[], metavar="Name=Value")
    args = parser.parse_args()

    with open(args.template) as f:
        template = yaml_parse(f.read())
    with open(args.routes) as f:
        routes = json.load(f)
    given = dict(p.split("=", 1) for p in args.param)
    unknown = given.keys() - template.get("Parameters", {}).keys()
    if unknown:
        parser.error(f"no such template parameter: {', '.join(sorted(unknown))}")

    # What `sam package` leaves after uploading the build artifacts.
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://rehearsal-bucket/rehearsal-key"
    # The transform takes partitions from the session's region; any region works offline.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        transformed = transform(template, parameter_values(template, given), OfflinePolicyLoader())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"transform failed: {cause.message}")
        return 1

    if args.out:
        with open(args.out, "w") as f:
            json.dump(transformed, f, indent=2)
            f.write("\n")

    resources = transformed["Resources"]
    problems = (
        check_cycles(resources)
        + check_references(transformed)
        + check_routes(resources, routes)
        + check_serverless_left(resources)
    )
    for problem in problems:
        print(problem)
    if problems:
        return 1
    checked = sum(len(spellings(r["path"])) for r in routes)
    print(f"rehearsal passed: {len(resources)} resources, {checked} routes wired and permitted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
