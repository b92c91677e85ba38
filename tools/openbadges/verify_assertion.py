"""Runs the official Open Badges 2.0 validator (`openbadges` 1.1.2) on a hosted assertion,
fully offline. Run it with the tool environment's Python, not the project's:

    .tools/obvenv/bin/python tools/openbadges/verify_assertion.py URL --email EMAIL

Prints the validator's report as JSON and exits 0 when it says `valid: true`, 1 otherwise.

The validator fetches the JSON-LD context https://w3id.org/openbadges/v2, which may be out
of reach. The package bundles that context (OPENBADGES_CONTEXT_V2_DICT): a requests
transport adapter mounted on https://w3id.org/ answers with it, and the validator's JSON-LD
document loader is made to use a session carrying that adapter. Everything else (the
assertion, badge class, issuer and image URLs) is fetched for real from the service."""

from __future__ import annotations

import argparse
import json
import sys

import openbadges
import requests
from openbadges.verifier import utils as verifier_utils
from openbadges.verifier import verifier
from openbadges.verifier.openbadges_context import OPENBADGES_CONTEXT_V2_DICT
from requests.adapters import BaseAdapter
from requests.models import Response


class BundledContextAdapter(BaseAdapter):
    """Answers every https://w3id.org/ request with the bundled Open Badges v2 context."""

    def send(self, request, **kwargs):
        response = Response()
        response.status_code = 200
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/ld+json"
        response._content = json.dumps(OPENBADGES_CONTEXT_V2_DICT).encode()
        response.encoding = "utf-8"
        return response

    def close(self):
        pass


def offline_session() -> requests.Session:
    session = requests.Session()
    session.mount("https://w3id.org/", BundledContextAdapter())
    return session


class OfflineDocumentLoader(verifier_utils.CachableDocumentLoader):
    """The validator's document loader, always over the offline session."""

    def __init__(self, *args, **kwargs):
        kwargs.pop("session", None)
        kwargs["use_cache"] = False
        super().__init__(*args, session=offline_session(), **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the hosted assertion URL")
    parser.add_argument("--email", required=True, help="the recipient's email")
    args = parser.parse_args()
    # verify() builds its own loader; make it build ours.
    verifier.CachableDocumentLoader = OfflineDocumentLoader
    report = openbadges.verify(args.url, recipient_profile={"email": args.email}, use_cache=False)
    print(json.dumps(report, indent=2, default=str))
    return 0 if report.get("report", {}).get("valid") else 1


if __name__ == "__main__":
    sys.exit(main())
