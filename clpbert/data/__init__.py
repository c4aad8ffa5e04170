"""Data: the stores (txt_db jsonl, vis_db LMDB), decoding, sparse sampling, transforms, datasets.

Modules (import the one you need; this package imports nothing heavy):
  txt_db      TxtDB / TxtDBWriter: <split>.jsonl + ans2label.json + meta.json
  vis_db      VisDB / VisDBWriter: LMDB of containers or pre-sampled JPEG frame stores; pack_files
  decode      bytes -> uint8 (K, 3, H, W) RGB (sparse PyAV, decord, PyAV for GIF, torchvision JPEG), or
              straight to the loader's (K, 3, L, L) with size=L; VideoDecodeError
  transcode   reencode_video: H.264 shaped for sparse loading (`datasets prepare --reencode`)
  sampling    sparse clip/frame index selection (spec §1.10), pure and seedable
  transforms  resize_pad: long side -> L, zero-pad bottom/right (spec §1.3)
  tokenizer   load_tokenizer / tokenize (BertTokenizerFast from a local directory)
  datasets    build_dataset(cfg, split, train, ...) -> Dataset with .collate (the "Batches" contract)
  verify      verify_dataset: every txt_db id exists in the vis_db and decodes
"""
