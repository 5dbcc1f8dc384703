"""Twilio's own RequestValidator (PyPI twilio), the oracle of commsd's
X-Twilio-Signature checks (daemon/tests/it/twilio.rs).

Reads a JSON list of cases on stdin, each
  {"token", "signed_url", "signed_params": [[name, value], ...],
   "url", "params": [[name, value], ...] | null, "body": str | null, "signature"}
and writes one JSON list: for each case, the signature Twilio's library
computes for (signed_url, signed_params) and whether it validates
(url, params or body, signature).
"""

import json
import sys

from twilio.request_validator import RequestValidator


class MultiDict:
    """Repeated names, as Flask's MultiDict gives them to the validator."""

    def __init__(self, pairs):
        self.pairs = [(k, v) for k, v in pairs]

    def __iter__(self):
        return iter([k for k, _ in self.pairs])

    def __len__(self):
        return len(self.pairs)

    def getall(self, name):
        return [v for k, v in self.pairs if k == name]


def main():
    out = []
    for case in json.load(sys.stdin):
        validator = RequestValidator(case["token"])
        computed = validator.compute_signature(
            case["signed_url"], MultiDict(case["signed_params"])
        )
        received = case["body"] if case["body"] is not None else MultiDict(case["params"])
        valid = validator.validate(case["url"], received, case["signature"])
        out.append({"computed": computed, "valid": bool(valid)})
    json.dump(out, sys.stdout)


main()
