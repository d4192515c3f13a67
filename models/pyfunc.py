"""The registered MLflow model: `predict({"rows": [n], "seed": [s]})` returns n synthetic rows.

Logged as code ("models from code"): MLflow runs this file to rebuild the model, and the trained parts
load from the `bundle` artifact as JSON and state_dicts (`weights_only=True`). Params choose the decode
(`mode`, `fairness`, `label_temperature`: the fields of `GenerationSettings`), validated by the same
settings model as the flow's.
"""

import mlflow
import pandas as pd
import polars as pl


class FairDistillPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from models.bundle import FairDistillModel

        self.model = FairDistillModel.load(context.artifacts["bundle"], device="cpu")

    def predict(
        self, context, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from fairdistill.settings import GenerationSettings

        request = model_input.iloc[0]
        settings = GenerationSettings(**(params or {}), seed=int(request["seed"]))
        chunks = self.model.generate(int(request["rows"]), settings)
        return pl.concat(list(chunks)).to_pandas()


mlflow.models.set_model(FairDistillPyfunc())
