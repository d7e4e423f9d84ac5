"""`smollm2-135m-instruct@q8_0` is the packaged Q4_1 GGUF re-encoded as Q8_0 when prepared: check the format and that
its next-token choices match the packaged file's, teacher-forced on the packaged file's own greedy answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiserve.registry.builders.gguf import SOURCE
from aiserve.registry.catalog import SMOLLM2, SMOLLM2_Q8_0
from aiserve.registry.prepare import locate, prepare

pytestmark = pytest.mark.integration

llama_cpp = pytest.importorskip("llama_cpp")

Q8_0 = 7  # llama_ftype: LLAMA_FTYPE_MOSTLY_Q8_0
Q4_1 = 3  # LLAMA_FTYPE_MOSTLY_Q4_1
SUBJECTS = ("paint", "sail", "bake bread", "repair clocks")


def _open(path: Path) -> Any:
    return llama_cpp.Llama(str(path), n_ctx=256, logits_all=True, n_threads=2, verbose=False)


def _next_token_choices(llm: Any, tokens: list[int], start: int) -> np.ndarray:
    llm.reset()
    llm.eval(tokens)
    choices: np.ndarray = np.asarray(llm.scores[start - 1 : len(tokens) - 1]).argmax(axis=1)
    return choices


def test_the_q8_0_gguf_chooses_as_the_packaged_q4_1_does(data_dir: Path) -> None:
    folder = prepare(data_dir / "models", SMOLLM2_Q8_0)
    assert SMOLLM2.files["model.gguf"] == SOURCE
    packaged, reencoded = _open(locate(SOURCE)), _open(folder / "model.gguf")
    assert int(packaged.metadata["general.file_type"]) == Q4_1
    assert int(reencoded.metadata["general.file_type"]) == Q8_0
    assert packaged.metadata["tokenizer.chat_template"] == reencoded.metadata["tokenizer.chat_template"]
    same = total = 0
    for subject in SUBJECTS:
        messages = [{"role": "user", "content": f"Write a short story about a robot who learns to {subject}."}]
        answer = packaged.create_chat_completion(messages, max_tokens=32, temperature=0.0)
        text = answer["choices"][0]["message"]["content"]
        prompt = packaged.tokenize(
            f"<|im_start|>user\n{messages[0]['content']}<|im_end|>\n<|im_start|>assistant\n".encode(), special=True
        )
        tokens = prompt + packaged.tokenize(text.encode(), add_bos=False)
        want = _next_token_choices(packaged, tokens, len(prompt))
        got = _next_token_choices(reencoded, tokens, len(prompt))
        same += int((want == got).sum())
        total += len(want)
    # measured 0.95 against full precision for both files; a broken re-encoding (Q4_0: 0.67) falls far below
    assert total > 60
    assert same / total >= 0.9
