// Package all links every module into a binary; import it for its side effects.
package all

import (
	_ "github.com/luasbc/luasbc/modules/acc"
	_ "github.com/luasbc/luasbc/modules/auth"
	_ "github.com/luasbc/luasbc/modules/auth_db"
	_ "github.com/luasbc/luasbc/modules/corex"
	_ "github.com/luasbc/luasbc/modules/dispatcher"
	_ "github.com/luasbc/luasbc/modules/htable"
	_ "github.com/luasbc/luasbc/modules/kx"
	_ "github.com/luasbc/luasbc/modules/maxfwd"
	_ "github.com/luasbc/luasbc/modules/nathelper"
	_ "github.com/luasbc/luasbc/modules/permissions"
	_ "github.com/luasbc/luasbc/modules/pike"
	_ "github.com/luasbc/luasbc/modules/registrar"
	_ "github.com/luasbc/luasbc/modules/rr"
	_ "github.com/luasbc/luasbc/modules/rtpengine"
	_ "github.com/luasbc/luasbc/modules/sanity"
	_ "github.com/luasbc/luasbc/modules/secfilter"
	_ "github.com/luasbc/luasbc/modules/siputils"
	_ "github.com/luasbc/luasbc/modules/sl"
	_ "github.com/luasbc/luasbc/modules/textops"
	_ "github.com/luasbc/luasbc/modules/tm"
	_ "github.com/luasbc/luasbc/modules/tmx"
	_ "github.com/luasbc/luasbc/modules/usrloc"
	_ "github.com/luasbc/luasbc/modules/xlog"
)
