"""A partner's check of a token, knowing only the API's URL: PyJWT's PyJWKClient fetches the
published key set, picks the key the token names, and checks signature, issuer, audience and
expiry. This is what README's "Checking a token without our secret" shows.

usage: partner_check.py BASE_URL TOKEN AUDIENCE
Prints the verified claims as JSON, or exits 1 with PyJWT's reason.
"""
import json
import sys

import jwt


def main() -> int:
    base, token, audience = sys.argv[1], sys.argv[2], sys.argv[3]
    keys = jwt.PyJWKClient(f"{base}/.well-known/jwks.json", cache_keys=True, lifespan=300)
    try:
        key = keys.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key=key,
            algorithms=["EdDSA"],
            audience=audience,
            issuer=base,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as e:
        print(f"refused: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
