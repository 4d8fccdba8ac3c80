from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


@register()
def encryption_keys_are_usable(app_configs, **kwargs):
    """Stop the start when stored secrets could not be encrypted or read back."""
    from core.crypto import fernet

    try:
        fernet()
    except ImproperlyConfigured as error:
        return [Error(str(error), id="keystay.E001")]
    return []
