"""ClipBERT model: public API for the trainer, predictor and CLI.

  build_model(model_cfg, task_cfg, num_labels=None) -> ClipBert
  ClipBert.encode_video(frames (B, N, T, 3, L, L) uint8|float RGB) -> visual (B, N, h, w, D)
  ClipBert.score(visual, input_ids (B', Lt), attention_mask (B', Lt), repeats (B,)) -> logits (B', N, K)
      (pretrain head: PretrainOutput(mlm_logits (B', Lt, V), itm_logits (B', 2)))
  ClipBert.forward(frames, input_ids, attention_mask, repeats) = score(encode_video(frames), ...)
  aggregate_clip_scores(logits (B', N, K), "mean"|"max"|"lse") -> (B', K)
  clip_loss(logits (B', N, K), labels, how, loss_type="ce"|"bce"|"rank", margin) -> scalar
  mc_option_logits(logits (B*opts, N, 1), opts) -> (B, N, opts)
  Parameter groups: names start with `cnn.` or `transformer.`; model.named_cnn_parameters() /
  named_transformer_parameters() yield trainable ones. Speed: model.to_channels_last(),
  maybe_compile(module, enabled), autocast_context(device, precision), make_grad_scaler(...).
  Weights: load_weights, load_bert_dir, load_tokenizer, initialize, inspect_checkpoint (weights.py).
"""

from clpbert.data.transforms import resize_pad  # owned by the data package; re-exported for callers
from clpbert.model.clipbert import (
    ClipBert,
    PretrainOutput,
    aggregate_clip_scores,
    build_model,
    clip_loss,
    mc_option_logits,
    resolve_num_labels,
)
from clpbert.model.compile import compile_failed, maybe_compile
from clpbert.model.precision import autocast_context, make_grad_scaler, resolve_precision
from clpbert.model.weights import (
    InspectReport,
    LoadReport,
    initialize,
    inspect_checkpoint,
    load_bert_dir,
    load_tokenizer,
    load_weights,
    read_state_dict,
)

__all__ = [
    "ClipBert",
    "InspectReport",
    "LoadReport",
    "PretrainOutput",
    "aggregate_clip_scores",
    "autocast_context",
    "build_model",
    "clip_loss",
    "compile_failed",
    "initialize",
    "inspect_checkpoint",
    "load_bert_dir",
    "load_tokenizer",
    "load_weights",
    "make_grad_scaler",
    "maybe_compile",
    "mc_option_logits",
    "read_state_dict",
    "resize_pad",
    "resolve_num_labels",
    "resolve_precision",
]
