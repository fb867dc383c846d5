package attack

import "time"

func nowTime() time.Time { return time.Now() }
