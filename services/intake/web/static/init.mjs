// GOV.UK Frontend's start-up, as an external module: the Content-Security-Policy allows no
// inline script. Adds the classes the template's inline snippet would, then starts every
// component (the Exit this page button's Shift x3 shortcut among them).
import { initAll } from '/govuk/govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()
