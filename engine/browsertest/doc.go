// Package browsertest signs a user in through the hosted pages with a real
// browser (headless Chromium, driven with chromedp), as a single-page app
// would. It is a test module of its own, so that chromedp is no
// requirement of the issuer's module (see docs/design.md, "Modules").
package browsertest
