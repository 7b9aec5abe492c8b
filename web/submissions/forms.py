from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from web.i18n import lazy_gettext as _l


class UploadForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type information
    """A student's upload: one models.py (checked by grader.source after the form accepts it)."""

    models_py = FileField(_l("Your models.py"), validators=[FileRequired(_l("Choose your models.py file first."))],
                          render_kw={"accept": ".py,text/x-python"})
