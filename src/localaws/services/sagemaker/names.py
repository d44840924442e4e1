"""CreateModel and CreateEndpointConfig refuse a name already taken, as SageMaker does.

moto 5.2.5 silently replaced the existing record. SageMaker answers ValidationException
`Cannot create already existing model "<arn>".` (and `... endpoint configuration "<arn>".`), the
text the SageMaker Python SDK itself matches on (`Session.create_model`, aws/sagemaker-python-sdk
pull request 306), in the form SageMaker gives for endpoints (see `endpoints.create_endpoint`).

DeleteModel finds the model under its name, the key moto keeps it by; moto scanned every model,
which had the save compare every tenant's models (`persistence.tracking`).
"""

from __future__ import annotations

from moto.sagemaker.exceptions import MissingModel, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.utils import arn_formatter

from localaws.core.patching import Patches

# after endpoints: its create_model wrapper warms the endpoint host; a refused name must not
patches = Patches("sagemaker.names", after=("sagemaker.endpoints",))


@patches.wrap(SageMakerModelBackend, "create_model")
def create_model(original, self, model_name, *args, **kwargs):
    if model_name in self._models:
        arn = arn_formatter("model", model_name, self.account_id, self.region_name)
        raise ValidationError(f'Cannot create already existing model "{arn}".')
    return original(self, model_name, *args, **kwargs)


@patches.wrap(SageMakerModelBackend, "create_endpoint_config")
def create_endpoint_config(original, self, endpoint_config_name, *args, **kwargs):
    if endpoint_config_name in self.endpoint_configs:
        arn = arn_formatter(
            "endpoint-config", endpoint_config_name, self.account_id, self.region_name
        )
        raise ValidationError(f'Cannot create already existing endpoint configuration "{arn}".')
    return original(self, endpoint_config_name, *args, **kwargs)


@patches.replace(SageMakerModelBackend, "delete_model")
def delete_model(self, model_name: str) -> None:
    if self._models.pop(model_name, None) is None:
        raise MissingModel(model=model_name)
