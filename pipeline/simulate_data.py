"""Names, companies and the phrase book of the call simulator (pipeline/simulate.py)."""

from __future__ import annotations

from pipeline.events import Sentiment

AGENTS = ("maria.lopez", "sam.taylor", "priya.nair", "li.wei", None)
QUEUES = ("billing", "support", "sales", "retention", None)
FIRST = ("Jane", "Omar", "Chloe", "Diego", "Aiko", "Noah", "Fatima", "Lukas", "Grace", "Ivan")
LAST = ("Doe", "Haddad", "Martin", "Garcia", "Tanaka", "Smith", "Khan", "Becker", "Okafor")
COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", None)

# intent -> (sentiments to draw from, customer lines, agent lines, summary, disposition)
INTENTS: dict[str, tuple[tuple[Sentiment, ...], tuple[str, ...], tuple[str, ...], str, str]] = {
    "complaint": (
        (Sentiment.NEGATIVE, Sentiment.NEGATIVE, Sentiment.MIXED),
        (
            "This is the third time the service dropped this week.",
            "I am really not happy with how this was handled.",
            "Nobody called me back last time, that is unacceptable.",
        ),
        ("I am sorry to hear that, let me look into it.", "I will escalate this right away."),
        "Customer complained about repeated service outages; escalated to support lead.",
        "escalated",
    ),
    "billing_question": (
        (Sentiment.NEUTRAL, Sentiment.POSITIVE, Sentiment.MIXED),
        (
            "I was charged twice on my last invoice.",
            "Can you explain the extra fee on my bill?",
            "When is my next payment due?",
        ),
        ("Let me pull up your account.", "I can see the duplicate charge, I will fix it."),
        "Customer asked about a duplicate charge; refund of the second charge initiated.",
        "resolved",
    ),
    "cancel": (
        (Sentiment.NEGATIVE, Sentiment.NEUTRAL, Sentiment.MIXED),
        (
            "I would like to cancel my subscription.",
            "The price went up and I found a cheaper option.",
            "Please close the account at the end of the month.",
        ),
        ("I understand. Can I offer you a discount to stay?", "I have noted the cancellation."),
        "Customer requested cancellation; retention offer made, decision pending.",
        "callback_scheduled",
    ),
    "meeting_request": (
        (Sentiment.POSITIVE, Sentiment.POSITIVE, Sentiment.NEUTRAL),
        (
            "Could we set up a demo for my team next week?",
            "I would like to talk to someone about the enterprise plan.",
            "Tuesday afternoon works best for us.",
        ),
        ("Happy to set that up.", "I will send a calendar invite with the details."),
        "Customer requested a product demo for their team; meeting to be scheduled.",
        "resolved",
    ),
    "technical_support": (
        (Sentiment.NEUTRAL, Sentiment.MIXED, Sentiment.POSITIVE),
        (
            "The app keeps logging me out.",
            "I cannot connect my headset to the dialer.",
            "It works now, thanks.",
        ),
        ("Could you try clearing the cache?", "Let me walk you through the settings."),
        "Customer had login issues; resolved by resetting the session.",
        "resolved",
    ),
}

PII_LINES = (
    "You can email me at {email}.",
    "My card number is {card}, the one ending in {last4}.",
    "Call me back on {phone} please.",
)
CARDS = ("4111 1111 1111 1111", "5500 0000 0000 0004", "3782 822463 10005")
