{{- define "release-passport.labels" -}}
app.kubernetes.io/name: release-passport
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}
{{- define "release-passport.selector" -}}
app.kubernetes.io/name: release-passport
app.kubernetes.io/component: controller
{{- end }}
