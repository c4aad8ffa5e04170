"""Converters from the official annotation formats to txt_db + vis_db (`clpbert datasets prepare`).

`base.FORMATS` lists the formats; each has one module here that only parses annotations into the
ClipBERT records of spec §3.2. `keys.py` is the single key function shared with the video packer
(`pack.py`); `prepare.py` writes the txt_db, packs videos, fingerprints and registers.

| format       | registers (task)                      | splits (source)                 | vis_db key      |
|--------------|---------------------------------------|---------------------------------|-----------------|
| tgif_qa      | NAME-action/-transition/-frameqa      | train+val (Train), test (Test)  | gif_name (stem) |
| msrvtt_qa    | NAME (msrvtt_qa)                      | train/val/test (*_qa.json)      | video_id videoN |
| msrvtt_ret   | NAME (msrvtt_ret), NAME-mc (msrvtt_mc)| train (7k), val (9k-7k), test   | clip_name (stem)|
| didemo       | NAME (didemo_ret)                     | train/val/test (*_data.json)    | file name       |
| anet_captions| NAME (anet_ret)                       | train+val, test (val_1), test2  | v_ video id     |
| coco_captions| NAME (pretrain)                       | train/val (captions_*.json)     | %012d image id  |
| vg_regions   | NAME (pretrain)                       | train (or --opt split=...)      | str(image id)   |
| vqa          | NAME (vqa)                            | train (+VG-QA), val, test       | COCO_<sub>_%012d|

"train+val": the release has no val split, so 10% of its train videos are held out as val
(base.hold_out_val), and model selection never runs on the test split.

Each module's docstring records its decisions (join order of paragraphs, key conventions, what is
dropped). Multi-dataset formats share one vis_db at NAME/vis_db.
"""
