"""A small labelled retrieval set for checking an embedding model after quantisation: each question has one
passage that answers it, among passages on neighbouring topics. Accuracy is the share of questions whose nearest
passage is their own."""

from __future__ import annotations

PAIRS: tuple[tuple[str, str], ...] = (
    (
        "How do I reset my password?",
        "To change a forgotten password, open the login page and follow 'Forgot password'.",
    ),
    ("How can I change the email on my account?", "Your contact address can be updated under Settings, then Profile."),
    ("Where is my parcel?", "Track a shipment with the number in the confirmation email to see where it is."),
    ("Can I send an order back?", "Items may be returned within 30 days for a full refund if unused."),
    (
        "What time does the shop open on Sunday?",
        "On weekends the store opens at ten in the morning and closes at four.",
    ),
    ("Do you deliver abroad?", "We ship to most countries in Europe and North America; customs fees may apply."),
    ("How long should I boil an egg?", "For a soft yolk, cook eggs in boiling water for about six minutes."),
    (
        "What temperature should bread bake at?",
        "Most loaves bake well in an oven heated to around 220 degrees Celsius.",
    ),
    ("How do I keep basil fresh?", "Stand the herb's stems in a glass of water on the counter, away from the fridge."),
    ("Is coffee bad for sleep?", "Caffeine can keep you awake for hours, so avoid it late in the afternoon."),
    (
        "How often should I water a cactus?",
        "Desert plants need water only every few weeks, once the soil is fully dry.",
    ),
    (
        "Why are the leaves of my tomato plant yellow?",
        "Yellowing tomato foliage often means too much water or too little nitrogen.",
    ),
    ("When should I plant tulip bulbs?", "Put spring-flowering bulbs in the ground in autumn, before the first frost."),
    ("How far is the Moon from Earth?", "The Moon orbits at an average distance of about 384,000 kilometres."),
    ("Why is the sky blue?", "Air molecules scatter short blue wavelengths of sunlight more than red ones."),
    ("What causes the tides?", "The gravitational pull of the Moon and the Sun raises and lowers the oceans."),
    ("How many bones are in the human body?", "An adult skeleton is made of 206 bones."),
    ("Why do we need vitamin D?", "Vitamin D helps the body absorb calcium and keep bones strong."),
    ("How much sleep does a teenager need?", "Adolescents should get between eight and ten hours of rest each night."),
    ("How do I stop a Python script?", "Press Ctrl+C in the terminal to interrupt a running Python program."),
    ("How do I install a package with pip?", "Run 'pip install' followed by the package name to add a library."),
    (
        "What is a memory leak?",
        "A program leaks memory when it keeps allocating without ever releasing what it no longer uses.",
    ),
    (
        "How do I undo my last git commit?",
        "Use 'git reset --soft HEAD~1' to drop the last commit but keep its changes.",
    ),
    ("Who wrote Pride and Prejudice?", "Jane Austen's novel about Elizabeth Bennet was published in 1813."),
    ("When did the Second World War end?", "The war in Europe ended in May 1945 and in the Pacific that September."),
    ("What is the capital of Australia?", "Canberra, not Sydney, is the seat of Australia's government."),
    ("How many players are on a football team?", "Each side fields eleven players, one of them the goalkeeper."),
    ("How long is a marathon?", "The race covers 42.195 kilometres, a little over 26 miles."),
    ("What is a good first guitar?", "Beginners often start with an inexpensive acoustic with light-gauge strings."),
    ("How do I tune a violin?", "Tune the strings to G, D, A and E using the pegs and the fine tuners."),
    ("Is it going to rain tomorrow?", "The forecast for tomorrow shows showers in the afternoon."),
    ("How cold does it get in Antarctica?", "Winter temperatures inland can fall below minus 60 degrees Celsius."),
)
