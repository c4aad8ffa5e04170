"""predict_files: `clpbert predict`'s checks, now in the application layer (the command only parses
and prints). The end-to-end answers are tests/predict/test_cli.py's."""

from __future__ import annotations

import pytest


def test_no_inputs_is_refused_before_any_model_loads():
    from clpbert.app.predict_files import PredictRequest, predict_files
    from clpbert.errors import UserError

    with pytest.raises(UserError, match=r"no inputs: pass --video FILE\|DIR and/or --image FILE"):
        predict_files(PredictRequest("no-such-checkpoint", []))


def test_an_outcome_with_every_input_skipped_is_a_user_error():
    from clpbert.app.predict_files import PredictOutcome
    from clpbert.errors import UserError
    from clpbert.predict.predictor import InputFailure

    skipped = [InputFailure("a.mp4", "cannot decode"), InputFailure("b.mp4", "cannot decode")]
    with pytest.raises(UserError, match=r"none of the inputs could be used \(2 skipped, see above\)"):
        PredictOutcome("qa", {}, {"predictions": []}, skipped).check_usable()
    PredictOutcome("qa", {}, {"predictions": [{"path": "c.mp4"}]}, skipped[:1]).check_usable()
    PredictOutcome("retrieval", {}, {"videos": [{"path": "c.mp4"}]}, skipped).check_usable()
