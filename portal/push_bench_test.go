package portal

import (
	"testing"
)

// BenchmarkPushPages renders the approval pages and answers the polls the
// waiting pages make every two seconds.
func BenchmarkPushPages(bm *testing.B) {
	e := newPushEnv(bm)
	e.setUpPhone(bm, "alice")
	waiting := e.browser()
	e.requestSignIn(bm, waiting, "alice")
	setup := e.browser()
	setup.login("bob", testPassword)
	setup.get(Prefix + "register/push")

	bm.Run("approve", func(bm *testing.B) { benchPage(bm, e.env, waiting, Prefix+"verify") })
	bm.Run("approve-poll", func(bm *testing.B) { benchPage(bm, e.env, waiting, Prefix+"verify/status") })
	bm.Run("set-up", func(bm *testing.B) { benchPage(bm, e.env, setup, Prefix+"register/push") })
	bm.Run("set-up-poll", func(bm *testing.B) { benchPage(bm, e.env, setup, Prefix+"register/push/status") })
	bm.Run("authenticator", func(bm *testing.B) { benchPage(bm, e.env, e.browser(), Prefix+"authenticator/") })
}
