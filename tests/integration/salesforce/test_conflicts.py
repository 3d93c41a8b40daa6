"""A record edited in Salesforce after the event -> 412 -> ConflictError -> field rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base.errors import ConflictError
from connectors.salesforce.sandbox import SalesforceSandbox
from connectors.salesforce.sink import SalesforceConnector
from pipeline.broker import EmbeddedBroker
from pipeline.config import Profile, Settings
from pipeline.conflicts import (
    ConflictRules,
    KafkaConflictPublisher,
    RuleBasedConflictHandler,
    read_conflicts,
)
from pipeline.resilience.target import ResilienceSettings, TargetResilience
from pipeline.sinks.delivery import Deliverer, OutcomeKind
from pipeline.sinks.ledger import InMemoryLedger

from .helpers import enriched_event, record_of

TWO_DAYS_AGO = datetime.now(UTC) - timedelta(days=2)


def seed(sf: SalesforceSandbox) -> tuple[str, str]:
    account = sf.org.insert("Account", {"Name": "Acme"}, modified=TWO_DAYS_AGO)
    opportunity = sf.org.insert(
        "Opportunity",
        {"Name": "Acme renewal", "StageName": "Prospecting", "CloseDate": "2026-12-31",
         "AccountId": account},
        modified=TWO_DAYS_AGO,
    )  # fmt: skip
    contact = sf.org.insert(
        "Contact", {"LastName": "Doe", "Phone": "+15550100"}, modified=TWO_DAYS_AGO
    )
    return opportunity, contact


def stage_record(opportunity: str, contact: str, stage: str = "Negotiation/Review"):
    an_hour_ago = int(time.time() * 1000) - 3_600_000
    event = enriched_event(
        "call-c", contact_id=contact, occurred_at_ms=an_hour_ago, open_deal_id=opportunity
    )
    return record_of(event, "update_opportunity_stage", stage=stage)


def deliverer_with(
    connector: SalesforceConnector, rules_yaml: str | None, publisher=None
) -> Deliverer:
    resilience = TargetResilience.from_settings(
        "salesforce", ResilienceSettings(rate_per_s=0, jitter_s=0, initial_backoff_s=0.01)
    )
    handler = None
    if rules_yaml is not None:
        handler = RuleBasedConflictHandler(
            ConflictRules.from_yaml(rules_yaml), publisher, target="salesforce"
        )
    return Deliverer(connector, InMemoryLedger(), resilience, conflict_handler=handler)


async def test_unchanged_record_is_updated_with_the_precondition(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    opportunity, contact = seed(sf)
    outcome = await deliverer_with(connector, None).deliver_record(
        stage_record(opportunity, contact)
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert sf.org.get("Opportunity", opportunity)["StageName"] == "Negotiation/Review"
    assert outcome.results[0].detail["forced"] is False


async def test_edit_after_the_event_raises_conflict_with_both_sides(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    opportunity, contact = seed(sf)
    modified = sf.org.edit_behind_our_back("Opportunity", opportunity, StageName="Closed Won")
    outcome = await deliverer_with(connector, None).deliver_record(
        stage_record(opportunity, contact)
    )
    assert outcome.kind is OutcomeKind.CONFLICT
    error = outcome.error
    assert isinstance(error, ConflictError)
    assert error.record_ref == f"Opportunity/{opportunity}"
    assert error.event_values == {"StageName": "Negotiation/Review"}
    assert error.target_values == {"StageName": "Closed Won"}
    assert error.target_modified_at == modified
    assert sf.org.get("Opportunity", opportunity)["StageName"] == "Closed Won"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("latest_wins", "Closed Won"),
        ("target_wins", "Closed Won"),
        ("voice_wins", "Negotiation/Review"),
    ],
)
async def test_conflict_resolved_by_rule_is_forced_through(
    sf: SalesforceSandbox, connector: SalesforceConnector, rule: str, expected: str
) -> None:
    opportunity, contact = seed(sf)
    sf.org.edit_behind_our_back("Opportunity", opportunity, StageName="Closed Won")
    rules = f"default: manual\ntargets:\n  salesforce:\n    StageName: {rule}\n"
    deliverer = deliverer_with(connector, rules, publisher=None)
    outcome = await deliverer.deliver_record(stage_record(opportunity, contact))
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    assert sf.org.get("Opportunity", opportunity)["StageName"] == expected
    assert outcome.results[-1].detail["forced"] is True  # written without the precondition


async def test_manual_rule_parks_the_conflict_on_sync_conflicts(
    sf: SalesforceSandbox, connector: SalesforceConnector, fresh_broker: EmbeddedBroker
) -> None:
    settings = Settings(bootstrap_servers=fresh_broker.bootstrap_servers, profile=Profile.DEV)
    publisher = KafkaConflictPublisher(settings)
    opportunity, contact = seed(sf)
    sf.org.edit_behind_our_back("Opportunity", opportunity, StageName="Closed Lost")
    deliverer = deliverer_with(connector, "default: manual\n", publisher)
    outcome = await deliverer.deliver_record(stage_record(opportunity, contact))
    publisher.close()
    assert outcome.kind is OutcomeKind.CONFLICT_PARKED
    (parked,) = read_conflicts(settings).values()
    assert parked.record_ref == f"Opportunity/{opportunity}"
    assert parked.fields["StageName"].event == "Negotiation/Review"
    assert parked.fields["StageName"].target == "Closed Lost"
    assert sf.org.get("Opportunity", opportunity)["StageName"] == "Closed Lost"


async def test_insights_go_to_the_configured_contact_fields(
    sf: SalesforceSandbox, connector: SalesforceConnector
) -> None:
    _, contact = seed(sf)
    event = enriched_event(
        "call-i", contact_id=contact, event_type="call_summary", sentiment="NEGATIVE",
        intents=["cancel", "billing"],
    )  # fmt: skip
    outcome = await deliverer_with(connector, None).deliver_record(
        record_of(event, "update_insights")
    )
    assert outcome.kind is OutcomeKind.DELIVERED, outcome.message
    stored = sf.org.get("Contact", contact)
    assert stored["Voicebus_Sentiment__c"] == "Negative"
    assert stored["Voicebus_Intents__c"] == "cancel;billing"
