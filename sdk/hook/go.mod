module github.com/scopeline/scopeline/sdk/hook

go 1.26.0
