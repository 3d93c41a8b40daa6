"""SOQL escaping against the sandbox's parser, spec validation, and Salesforce error bodies
-> error classes (data -> DLQ with errorCode + fields, lock contention -> retry, 300 -> data)."""

from __future__ import annotations

import pytest

from connectors.base.errors import DataError, PermanentError
from connectors.salesforce.client import soql_quote
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sandbox_state import RecordError
from connectors.salesforce.sink import SalesforceConnector
from pipeline.sinks.delivery import OutcomeKind

from .conftest import make_deliverer
from .helpers import enriched_event, record_of

INJECTION = "+1555' OR Phone != '"
NASTY_BUT_REAL = "+1 (555) O'Brien\\ext\n9"


async def test_phone_with_quotes_and_backslashes_cannot_alter_the_query(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    plain = [
        sf.org.insert("Contact", {"LastName": f"C{i}", "Phone": f"+1555000{i}"}) for i in range(3)
    ]
    nasty = sf.org.insert("Contact", {"LastName": "Nasty", "Phone": NASTY_BUT_REAL})
    # the sandbox really parses SOQL: spliced unescaped, the text widens the query to everyone
    spliced = await connector.client.query(f"SELECT Id FROM Contact WHERE Phone = '{INJECTION}'")
    assert {r["Id"] for r in spliced} == {*plain, nasty}
    # escaped, the same text is one literal that matches no phone
    assert await connector.find_contacts([INJECTION]) == {}
    # and a number that really holds quote, backslash and newline finds exactly its contact
    assert await connector.find_contacts([NASTY_BUT_REAL]) == {NASTY_BUT_REAL: nasty}
    assert await connector.find_contacts(["+15550001", INJECTION]) == {"+15550001": plain[1]}


async def test_malformed_soql_is_a_data_error(connector: SalesforceConnector) -> None:
    with pytest.raises(DataError, match="MALFORMED_QUERY"):
        await connector.client.query("SELECT Id FROM Contact WHERE Phone = 'unterminated")
    with pytest.raises(DataError, match="MALFORMED_QUERY"):
        await connector.client.query("SELECT Id FROM Contact WHERE Phone = 'bad \\q escape'")
    with pytest.raises(DataError, match="INVALID_FIELD"):
        await connector.client.query("SELECT Id FROM Contact WHERE Nope__c = " + soql_quote("x"))


async def test_requests_are_validated_against_the_specs(connector: SalesforceConnector) -> None:
    response = await connector.client.request(
        "PATCH",
        "/composite/sobjects/Task/Voicebus_Call_Id__c",
        operation="test",
        json={"allOrNone": False, "records": [{"Subject": "no attributes"}]},
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    missing = await connector.client.request("GET", "/no/such/resource", operation="test")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    wrong_method = await connector.client.request("DELETE", "/query", operation="test")
    assert wrong_method.status_code == 405


async def test_validation_rule_failure_is_dead_lettered_with_code_and_fields_only(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    secret_reason = "Caller Jane Roe (SSN 078-05-1120) may not be logged"

    def rule(sobject, fields):
        if sobject == "Task":
            return RecordError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", secret_reason, ["Subject"])
        return None

    sf.org.validation_rules.append(rule)
    outcome = await make_deliverer(connector).deliver_record(record_of(enriched_event("v-1")))
    assert outcome.kind is OutcomeKind.DEAD_LETTER and outcome.error_class == "data"
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in outcome.message and "Subject" in outcome.message
    assert "Jane" not in outcome.message and "078-05" not in outcome.message
    assert outcome.attempts == 1


async def test_unknown_field_and_bad_reference_are_data_errors(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    bad_field = SalesforceConnector(
        connector.settings.model_copy(update={"sentiment_field": "Mood__c"})
    )
    from datetime import UTC, datetime, timedelta

    contact = sf.org.insert(
        "Contact", {"LastName": "Doe"}, modified=datetime.now(UTC) - timedelta(days=1)
    )
    insights = record_of(
        enriched_event("f-1", contact_id=contact, event_type="call_summary"), "update_insights"
    )
    outcome = await make_deliverer(bad_field).deliver_record(insights)
    assert outcome.kind is OutcomeKind.DEAD_LETTER and "INVALID_FIELD" in outcome.message
    assert "Mood__c" in outcome.message
    await bad_field.aclose()
    from connectors.salesforce.sandbox_state import checksum

    ghost = "0035g0000000ZZZ" + checksum("0035g0000000ZZZ")  # well-formed, no such contact
    outcome = await make_deliverer(connector).deliver_record(
        record_of(enriched_event("f-2", contact_id=ghost))
    )
    assert outcome.kind is OutcomeKind.DEAD_LETTER
    assert "FIELD_INTEGRITY_EXCEPTION" in outcome.message and "WhoId" in outcome.message
    malformed = record_of(enriched_event("f-3", contact_id="0035g0000000ZZZAAA"))  # bad checksum
    outcome = await make_deliverer(connector).deliver_record(malformed)
    assert outcome.kind is OutcomeKind.DEAD_LETTER and "MALFORMED_ID" in outcome.message


async def test_unable_to_lock_row_is_retried(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    failures = iter([True, True])

    def locked(sobject, fields):
        if sobject == "Task" and next(failures, False):
            return RecordError(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access")
        return None

    sf.org.validation_rules.append(locked)
    outcome = await make_deliverer(connector).deliver_record(record_of(enriched_event("l-1")))
    assert outcome.kind is OutcomeKind.DELIVERED and outcome.attempts == 3


async def test_duplicate_external_ids_are_a_data_error_naming_the_records(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    first = sf.org.insert("Task", {"Subject": "x", "Voicebus_Call_Id__c": "dup-1"})
    second = sf.org.insert("Task", {"Subject": "y", "Voicebus_Call_Id__c": "dup-1"})
    outcome = await make_deliverer(connector).deliver_record(record_of(enriched_event("dup-1")))
    assert outcome.kind is OutcomeKind.DEAD_LETTER and outcome.error_class == "data"
    assert "HTTP 300" in outcome.message and first in outcome.message and second in outcome.message


async def test_missing_external_id_field_in_the_org_is_permanent(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    other = SalesforceConnector(
        connector.settings.model_copy(update={"task_external_id_field": "Call_Key__c"})
    )
    ops = other.map_record(record_of(enriched_event("p-1")))
    with pytest.raises(PermanentError, match="external id field"):
        await other.deliver(ops[0])
    await other.aclose()
