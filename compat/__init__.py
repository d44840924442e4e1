"""The compatibility suite: others' SageMaker workloads, written as their authors would, run
unmodified against localaws (issue 13).

- `abalone_data`: an abalone-like CSV generator (the UCI layout: sex, seven measurements,
  rings; no header), so the suite needs no download;
- `scripts/`: the code that runs inside the jobs (a scikit-learn preprocessing script and an
  evaluation script that writes the PropertyFile);
- `pipeline_v3` / `pipeline_v2`: the abalone-style pipeline (process -> built-in XGBoost ->
  evaluate -> condition -> register, create model, transform) with SageMaker Python SDK v3
  (the project's pin) and v2;
- `state_machine`: the same work as a state machine of `.sync` SageMaker integrations;
- `checks`: runs either and turns what happened into rows of a feature | works / fails table;
- `run_v2`: `make compat`'s entry point (SDK v2 in `.venv-compat`, its own localaws).

`tests/compat/` runs the v3 pipeline and the state machine with the project's own venv.
"""
