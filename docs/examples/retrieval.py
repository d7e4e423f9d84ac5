"""Search a small corpus, rerank what the search found, and answer with citations, on one aiserve server.

    AISERVE_BASE_URL=http://127.0.0.1:8000 AISERVE_API_KEY=sk-... python docs/examples/retrieval.py "your question"

Embeddings find candidates (all-minilm-l6-v2), the reranker orders them (minilm-rerank), and the chat model
(smollm2-135m-instruct) answers from the best three, citing them by number.
"""

from __future__ import annotations

import sys

import numpy as np

from aiserve.client import Client

CORPUS = [
    "Basil grows best with six to eight hours of sun and soil that drains well.",
    "Pinching off basil flowers keeps the plant producing leaves.",
    "Tomatoes need deep watering two or three times a week rather than a little every day.",
    "The Eiffel Tower was finished in 1889 for the World's Fair in Paris.",
    "Mount Everest is 8,849 metres high, the highest mountain above sea level.",
    "A sourdough starter is fed with equal weights of flour and water.",
    "Jupiter is the largest planet in the solar system.",
    "Overwatering is the most common way houseplants die: roots rot in wet soil.",
]


def main(question: str) -> None:
    with Client() as client:  # AISERVE_BASE_URL and AISERVE_API_KEY
        # 1. embed the corpus (once; keep the vectors) and the question
        vectors = np.array([d.embedding for d in client.embeddings.create(CORPUS, model="all-minilm-l6-v2").data])
        query = np.array(client.embeddings.create(question, model="all-minilm-l6-v2").data[0].embedding)
        # 2. search: the five nearest passages (the vectors are normalised: a dot product is the cosine)
        candidates = [int(i) for i in np.argsort(-(vectors @ query))[:5]]
        # 3. rerank them against the question and keep the best three
        ranked = client.rerank(question, [CORPUS[i] for i in candidates], model="minilm-rerank", top_n=3)
        sources = [CORPUS[candidates[r.index]] for r in ranked.results]
        # 4. answer from those sources only, citing them by number
        context = "\n".join(f"[{n}] {text}" for n, text in enumerate(sources, start=1))
        answer = client.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[
                {
                    "role": "system",
                    "content": "Answer from the sources only, in one or two sentences, and cite "
                    "the sources you used like [1].",
                },
                {"role": "user", "content": f"Sources:\n{context}\n\nQuestion: {question}"},
            ],
            temperature=0,
            max_tokens=80,
        )
    print(answer.choices[0].message.content)  # noqa: T201 - an example prints its answer
    for n, text in enumerate(sources, start=1):
        print(f"[{n}] {text}")  # noqa: T201


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "How do I keep my basil plant healthy?")
