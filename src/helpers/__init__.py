"""The workflow library the notebooks share: one module per concern, one way to do each thing.

Modules (imports go down this list; none imports a notebook or localaws' internals):

- `chain`: run the notebook chain with papermill (`make demo`);
- `results`: `record(name, value)` in a notebook, `read_results(path)` in tests;
- `summaries`: the small tables and lines notebooks show (key values, predictions, leftovers);
- `pipeline_view`: the step table of a pipeline definition (what runs where, in and out);
- `plots`, `plots_data`: figures for the notebooks;
- `batch`: score a tenant's customer file with its approved model (a batch transform job);
- `deploy`: deploy a tenant's approved version (deploy state machine), endpoint status, invoke;
- `approval`: approve / reject a tenant's model versions, the versions table;
- `registry`: the one listing of a model package group's versions (`ModelVersion`);
- `pipeline`: the model build pipeline, a package: `build` (the SDK definition, upsert),
  `sdk_workarounds` (what the SDK needs changed, pinned), `run` (start, wait, report);
- `tenants`: create, describe, delete a tenant (create / delete state machines), its data;
- `stack`: deploy and delete the platform stack (CloudFormation);
- `executions`: the one state-machine runner (start, wait with progress, named errors);
- `tenant_table`: the one tenant look-up (`tenant_item`; missing -> `TenantNotFound`);
- `data`: the per-tenant churn data generator, CSV validation and upload;
- `storage`: S3 URI parsing, JSON reads, bucket creation;
- `progress`: live progress that leaves one summary line in executed notebooks;
- `errors`: every named error (`TenantNotFound`, `TenantExists`, `DeployError`, ...);
- `session`: `connect(backend, region) -> AwsSession`, the one source of AWS clients;
- `naming`: every resource name and constant (tenant id rule, ARNs, table, pipeline, keys).

Every function that talks to AWS takes `session: AwsSession` first. The functions a notebook
calls, in workflow order:

    session = session.connect(backend, region)                      # 00 .. 99
    stack.deploy_stack(session, table_name=...) / stack.delete_stack(session)
    tenants.create_tenant(session, tenant_id, table_name)           # 01
    tenants.get_tenant_item / describe_tenant / tenant_summary / upload_tenant_data
    data.load_churn(tenant_id, data_path, rows)  # the tenant's CSV(s), or generated data
    pipeline.check_hyperparameters(values)                          # 02
    pipeline.upsert(session); pipeline.start(session, tenant_id, table_name, **options)
    pipeline.wait(session, execution_arn) -> ExecutionResult (.table(), .steps, .status)
    pipeline_view.described_steps_table(session, name); plots.pipeline_graph(statuses)
    pipeline.evaluation_report(session, result); pipeline.metrics_summary(report)
    registry.tenant_versions(session, tenant_id, table_name)
    approval.versions_table / latest_version / approve(session, tenant_id, version, comment)  # 03
    deploy.deploy(session, tenant_id, version=...) -> Deployment
    deploy.endpoint_status / tenant_item / input_schema / sample_rows
    deploy.invoke(session, tenant_id, records)  # raw records: a DataFrame, dicts
    batch.score_batch(session, tenant_id, records_or_path) -> churn list  # 04
    tenants.delete_tenant(session, tenant_id, table_name); tenants.tenant_leftovers  # 99
    results.record(name, value)                                     # every notebook
"""
