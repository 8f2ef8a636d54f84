"""IAM identities for the IAM-enforced test pass: one per function, carrying exactly the policy
statements the deployed function's role gets (taken from the transformed template), and one
administrator for test set-up.

moto checks identity policies once its no-auth allowance is spent, and matches only the actions:
resources are widened to "*" here (the rehearsal checks the resources statically), and
conditions are dropped (moto ignores them). The actions are kept exactly, so a call a function's
code makes that its policy lacks is refused as it would be in AWS.

usage: python iam_identities.py ENDPOINT TRANSFORMED.json [--admin KEY:SECRET] [--prefix P]
                                [--without FUNCTION=ACTION ...]

Without --admin, the emulator must not enforce yet: an administrator is created and enforcement
is switched on (POST /moto-api/reset-auth 0). Prints JSON:
{"admin": {"key", "secret"}, "functions": {"<binary>": {"key", "secret"}}}
"""

import argparse
import json
import sys
import urllib.request

import boto3

# What every identity may do in the emulator before enforcement starts.
UNLIMITED = b"inf"


def reset_auth(endpoint, allowance):
    """Sets moto's count of unauthenticated calls still allowed (the raw body, no form type)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=allowance, method="POST"
    )
    request.add_header("Content-Type", "text/plain")
    urllib.request.urlopen(request).read()


def iam(endpoint, key, secret):
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def create_user(client, name, statements):
    client.create_user(UserName=name)
    client.put_user_policy(
        UserName=name,
        PolicyName=f"{name}-policy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = client.create_access_key(UserName=name)["AccessKey"]
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def function_statements(transformed):
    """Each function binary's role statements, as the transform generated them."""
    resources = transformed["Resources"]
    found = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        role = resource["Properties"]["Role"]["Fn::GetAtt"][0]
        statements = []
        for policy in resources[role]["Properties"].get("Policies", []):
            document = policy["PolicyDocument"]
            listed = document["Statement"]
            statements += listed if isinstance(listed, list) else [listed]
        found[binary] = statements
    return found


def widened(statements, without):
    """The statements with resources widened to "*" and the actions in `without` removed."""
    out = []
    for statement in statements:
        # A conditional Deny (the published keys' leading key) is checked statically: moto
        # ignores conditions, so kept here it would deny every write of its actions.
        if statement["Effect"] == "Deny" and "Condition" in statement:
            continue
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else list(actions)
        actions = [a for a in actions if a not in without]
        if actions:
            out.append({"Effect": statement["Effect"], "Action": actions, "Resource": "*"})
    # A policy with no statement at all is refused by IAM: keep one that grants nothing usable.
    return out or [{"Effect": "Allow", "Action": ["iam:GetUser"], "Resource": "*"}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("endpoint")
    parser.add_argument("transformed")
    parser.add_argument("--admin", help="KEY:SECRET of an existing administrator")
    parser.add_argument("--prefix", default="fn", help="user names start with this")
    parser.add_argument("--without", action="append", default=[], metavar="FUNCTION=ACTION")
    args = parser.parse_args()

    with open(args.transformed) as f:
        statements = function_statements(json.load(f))
    without = {}
    for item in args.without:
        function, action = item.split("=", 1)
        if function not in statements:
            parser.error(f"no function {function}")
        without.setdefault(function, set()).add(action)

    if args.admin:
        key, secret = args.admin.split(":", 1)
        admin = {"key": key, "secret": secret}
    else:
        reset_auth(args.endpoint, UNLIMITED)
        anyone = iam(args.endpoint, "bootstrap", "bootstrap")
        admin = create_user(
            anyone, "admin", [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
        )
        reset_auth(args.endpoint, b"0")
    client = iam(args.endpoint, admin["key"], admin["secret"])
    functions = {
        binary: create_user(
            client, f"{args.prefix}-{binary}", widened(listed, without.get(binary, set()))
        )
        for binary, listed in sorted(statements.items())
    }
    json.dump({"admin": admin, "functions": functions}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
