"""The clpbert terminal UI (Textual): `clpbert tui`.

    app.py          the App: modes runs (1), datasets (2), checkpoints (3), gpus (4); help, palette, theme
    data.py         everything read or done (registry, NVML, run manager), called from thread workers
    formatting.py   cell text: ages, ETAs, numbers, N/A
    screens/        one module per screen (runs, run_detail, compare, datasets, checkpoints, gpus,
                    new_run, help, confirm; listing = the datasets/checkpoints base)
    widgets/        runs_table (virtualised), loss_plot + braille_plot (curves), key_footer, gpu_panel,
                    eval_table, log_view, predictions_table (virtualised)

The engine (`clpbert/`) never imports this package.
"""
