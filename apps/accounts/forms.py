from django import forms

from apps.accounts.models import Organisation
from apps.accounts.services import RETENTION_DEFAULTS


class RetentionForm(forms.ModelForm):
    class Meta:
        model = Organisation
        fields = RETENTION_DEFAULTS
        labels = {
            "keep_executions_days": "Keep finished runs (days)",
            "keep_last_runs": "Keep the last N runs of each instance",
            "keep_logs_days": "Keep logs (days)",
            "keep_data_days": "Keep batches' data and jobs' files (days)",
        }
