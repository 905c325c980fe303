"""The evaluation layer: judging a model by driving it.

The closed loop on recorded footage (`replay`) and its rules, the scores (`autonomy`, the one
formula; `interventions`, the headless simulator's scorecard), the replay's report and plot
(`report`, `plot`), and what a model attends to (`saliency`) with the videos that show it (`video`).
Training's per-epoch validation and its on-policy rounds call `replay.drive_model`; `sim`, `drive`
and `training` use this layer, and it uses only `base` (import-linter holds it to that).
"""
