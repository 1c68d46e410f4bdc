"""The six pages of the adaptation wizard (UI.md, issue 7), one module each.

Each page says when it is ready (`isComplete`), so QWizard keeps Next disabled until
then: the site page until a scan found enough usable photos, the training page until
training finished, the results page until the evaluation is in. What the pages share
(WizardState) lives in app.wizard.state, their common helpers in app.wizard.pages.base.
"""

from app.wizard.pages.results import ResultsPage
from app.wizard.pages.save import SavePage
from app.wizard.pages.settings import SettingsPage
from app.wizard.pages.site import SitePage
from app.wizard.pages.training import TrainPage
from app.wizard.pages.welcome import WelcomePage

__all__ = ["ResultsPage", "SavePage", "SettingsPage", "SitePage", "TrainPage", "WelcomePage"]
