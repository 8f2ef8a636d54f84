"""A Python team's version of POST /api/accounts/loans/, written for the benchmark only.

It is never deployed and serves nothing: `make bench` starts it beside the Rust function under the
same CPU quota, to compare their first responses on the production path. It is written the way a
Python team would write it, with the usual libraries: Powertools' HTTP API resolver, boto3 (one
DynamoDB client made at import, as in Lambda's own examples), and PyJWT. It does what the Rust
function does on the way to a 200: the token checked (EdDSA, issuer, audience, type), the user
re-read, the account's partition queried, and the request counted in the counter table.
"""

import os
import random
import time

import boto3
import jwt
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

app = APIGatewayHttpResolver()
dynamodb = boto3.client("dynamodb")
TABLE = os.environ["TABLE_NAME"]
COUNTERS = os.environ["COUNTER_TABLE_NAME"]
ISSUER = os.environ["PUBLIC_BASE_URL"]
KEYS = {key.key_id: key for key in jwt.PyJWKSet.from_json(os.environ["JWT_PUBLIC_KEYS"]).keys}
SHARDS = 10


def refuse(status, message):
    return Response(status, "application/json", {"error": message})


@app.post("/api/accounts/loans/")
def loans():
    token = app.current_event.headers.get("auth_key", "")
    try:
        key = KEYS[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(
            token, key, algorithms=["EdDSA"], issuer=ISSUER, audience=["dfcu", "fintract"]
        )
        if claims["token_type"] != "access":
            raise jwt.InvalidTokenError("not an access token")
    except (KeyError, jwt.InvalidTokenError):
        return refuse(401, "Invalid Auth Token.")
    number = (app.current_event.json_body or {}).get("account_number", "")
    user = dynamodb.get_item(
        TableName=TABLE,
        Key={"pk": {"S": f"USER#{claims['sub']}"}, "sk": {"S": "PROFILE"}},
        ConsistentRead=True,
    ).get("Item")
    if (
        not user
        or not user["is_active"]["BOOL"]
        or int(user["token_version"]["N"]) != claims["ver"]
    ):
        return refuse(401, "Invalid Auth Token.")
    items = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{number}"}},
        ConsistentRead=True,
    )["Items"]
    account = next((i for i in items if i["sk"]["S"] == "ACCOUNT"), None)
    admin = user["user_type"]["S"] in ("BANK_ADMIN", "FINTRACT_ADMIN")
    if not account or (
        not admin and account["customer_id"]["S"] != user["customer_id"]["S"]
    ):
        return refuse(404, "Account not found.")
    loans = [
        {
            "loan_id": i["loan_id"]["S"],
            "disbursement_date": i["disbursement_date"]["S"],
            "outstanding_amount": int(i["outstanding_amount"]["N"]),
        }
        for i in items
        if i["sk"]["S"].startswith("LOAN#") and int(i["outstanding_amount"]["N"]) > 0
    ]
    return {
        "response": {
            "customer_id": account["customer_id"]["S"],
            "customer_name": account["customer_name"]["S"],
            "customer_account": account["account_number"]["S"],
            "customer_loans": loans,
        }
    }


def count(status):
    hour = int(time.time()) // 3600
    name = "positive" if status < 400 else "negative" if status < 500 else "failed"
    dynamodb.update_item(
        TableName=COUNTERS,
        Key={
            "pk": {"S": f"D#{hour // 24}"},
            "sk": {"S": f"{hour:010}#loans-python#{random.randrange(SHARDS)}"},
        },
        UpdateExpression="ADD #c :one SET #f = :f, #h = :h",
        ExpressionAttributeNames={"#c": name, "#f": "function", "#h": "hour"},
        ExpressionAttributeValues={
            ":one": {"N": "1"},
            ":f": {"S": "loans-python"},
            ":h": {"N": str(hour)},
        },
    )


def handler(event, context):
    answer = app.resolve(event, context)
    count(answer["statusCode"])
    return answer
