{{/* Chart name, at most 63 characters (a DNS label). */}}
{{- define "rollcall.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of every resource. At most 52 characters: the CronJob controller appends an 11-character
suffix to name each Job, and Job names must stay within 63.
*/}}
{{- define "rollcall.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rollcall.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "rollcall.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rollcall.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rollcall.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rollcall.labels" -}}
helm.sh/chart: {{ include "rollcall.chart" . }}
{{ include "rollcall.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "rollcall.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rollcall.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rollcall.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
The job spec as mounted: the ConfigMap's content and the checksum annotation both use it. It is
`config` as given, plus what the chart's own values decide: the projected token's path as the
token_file of each source that logs in with it, and metrics.pushgateway.
*/}}
{{- define "rollcall.spec" -}}
{{- $config := deepCopy .Values.config -}}
{{- $tokenPath := .Values.vault.auth.tokenPath -}}
{{- range ($config.sources | default list) -}}
{{- if eq (include "rollcall.loginWithServiceAccountToken" .) "true" -}}
{{- if not .auth.token_file -}}
{{- $_ := set .auth "token_file" $tokenPath -}}
{{- else if ne .auth.token_file $tokenPath -}}
{{- fail (printf "source %s: auth.token_file is %s, but the chart mounts the service-account token at vault.auth.tokenPath (%s); leave token_file out, or set vault.auth.tokenPath" (toString .name) (toString .auth.token_file) $tokenPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with .Values.metrics.pushgateway -}}
{{- if and (kindIs "map" $config.metrics) $config.metrics.pushgateway (ne $config.metrics.pushgateway .) -}}
{{- fail "set metrics.pushgateway or config.metrics.pushgateway, not both" -}}
{{- end -}}
{{- $metrics := ternary $config.metrics (dict) (kindIs "map" $config.metrics) -}}
{{- $_ := set $metrics "pushgateway" . -}}
{{- $_ := set $config "metrics" $metrics -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* "true" when this source of the spec logs in to Vault with a Kubernetes service-account token. */}}
{{- define "rollcall.loginWithServiceAccountToken" -}}
{{- if and (kindIs "map" .) (kindIs "map" .auth) (has (toString .auth.method) (list "kubernetes" "jwt")) -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when the pod needs the projected service-account token volume. */}}
{{- define "rollcall.mountsVaultToken" -}}
{{- $needed := .Values.vault.auth.alwaysMount -}}
{{- if not .Values.existingConfigMap -}}
{{- range (.Values.config.sources | default list) -}}
{{- if eq (include "rollcall.loginWithServiceAccountToken" .) "true" -}}
{{- $needed = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $needed -}}
true
{{- end -}}
{{- end -}}

{{/*
Values still at the chart's placeholders, one per line: the example bucket of values.yaml and
addresses under the names RFC 2606 reserves for documentation, which no real server has.
*/}}
{{- define "rollcall.placeholders" -}}
{{- if not .Values.existingConfigMap -}}
{{- with .Values.config.output -}}
{{- if eq (toString .url) "s3://compliance-reports/rollcall" }}
config.output.url is the chart's example bucket ({{ .url }})
{{- end -}}
{{- end -}}
{{- range (.Values.config.sources | default list) -}}
{{- $source := . -}}
{{- range (list "address" "base_url") -}}
{{- $url := toString (get $source .) -}}
{{- if regexMatch "^[a-z]+://([^/:]+[.])?example[.](com|org|net)([:/]|$)" $url }}
source {{ $source.name }}: {{ . }} {{ $url }} is an example address
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding the job spec, and the key of the spec in it. */}}
{{- define "rollcall.configMapName" -}}
{{- default (include "rollcall.fullname" .) .Values.existingConfigMap -}}
{{- end -}}

{{- define "rollcall.configKey" -}}
{{- if .Values.existingConfigMap -}}
{{- .Values.existingConfigMapKey -}}
{{- else -}}
job.yaml
{{- end -}}
{{- end -}}

{{/* Where the pod reads the job spec. */}}
{{- define "rollcall.configPath" -}}
{{- printf "%s/%s" (trimSuffix "/" .Values.configMountPath) (include "rollcall.configKey" .) -}}
{{- end -}}

{{/* The Secret loaded as environment variables. */}}
{{- define "rollcall.secretName" -}}
{{- default (include "rollcall.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/*
Settings that contradict each other fail the render with a message, rather than producing a pod
that fails at 3 a.m.
*/}}
{{- define "rollcall.checks" -}}
{{- if and .Values.existingSecret .Values.secret.create -}}
{{- fail "set either existingSecret or secret.create, not both" -}}
{{- end -}}
{{- if and .Values.secret.create (empty .Values.secret.data) -}}
{{- fail "secret.create is true but secret.data is empty" -}}
{{- end -}}
{{- if and (not .Values.existingConfigMap) (empty .Values.config) -}}
{{- fail "config (the job spec) is empty; set it, or existingConfigMap" -}}
{{- end -}}
{{- if .Values.secretFiles.enabled -}}
{{- if not .Values.secretFiles.secretName -}}
{{- fail "secretFiles.enabled is true but secretFiles.secretName is empty" -}}
{{- end -}}
{{- range .Values.secretFiles.env -}}
{{- if and $.Values.secret.create (hasKey $.Values.secret.data .name) -}}
{{- fail (printf "%s is in secret.data and in secretFiles.env; rollcall refuses a secret set both as %s and %s_FILE" .name .name .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if eq (include "rollcall.mountsVaultToken" .) "true" -}}
{{- $tokenDir := dir .Values.vault.auth.tokenPath -}}
{{- $taken := list (trimSuffix "/" .Values.configMountPath) "/tmp" -}}
{{- if .Values.secretFiles.enabled -}}{{- $taken = append $taken (trimSuffix "/" .Values.secretFiles.mountPath) -}}{{- end -}}
{{- if has $tokenDir $taken -}}
{{- fail (printf "vault.auth.tokenPath %s is in %s, which another volume of the pod is mounted at; choose a folder of its own" .Values.vault.auth.tokenPath $tokenDir) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.sharding.enabled (kindIs "invalid" .Values.job.backoffLimit) -}}
{{- fail "sharding needs job.backoffLimit: it becomes the retry limit of each shard (backoffLimitPerIndex)" -}}
{{- end -}}
{{- if and .Values.sharding.enabled .Values.sharding.parallelism (gt (int .Values.sharding.parallelism) (int .Values.sharding.count)) -}}
{{- fail "sharding.parallelism cannot exceed sharding.count" -}}
{{- end -}}
{{- end -}}

{{/*
The pod spec shared by the CronJob's runs and the `helm test` pod. Called with a dict:
  ctx   the root context
  args  the container arguments (["run", ...] or ["check"])
  shard whether to pass the shard count (only the scheduled run is sharded)
*/}}
{{- define "rollcall.podSpec" -}}
{{- $ := .ctx -}}
{{- $v := $.Values -}}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
serviceAccountName: {{ include "rollcall.serviceAccountName" $ }}
automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
{{- /* Never: a failed pod is replaced by a new one, which podFailurePolicy requires. */}}
restartPolicy: Never
{{- /*
rollcall reads no service links, and a Service named like a ROLLCALL_* setting (a Service
"rollcall" gives ROLLCALL_PORT, ...) would otherwise put variables into its environment.
*/}}
enableServiceLinks: false
{{- if not (kindIs "invalid" $v.terminationGracePeriodSeconds) }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
{{- end }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: rollcall
    image: {{ include "rollcall.image" $ | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      - name: ROLLCALL_CONFIG
        value: {{ include "rollcall.configPath" $ | quote }}
      {{- with $v.logFormat }}
      - name: ROLLCALL_LOG_FORMAT
        value: {{ . | quote }}
      {{- end }}
      {{- with $v.logLevel }}
      - name: ROLLCALL_LOG
        value: {{ . | quote }}
      {{- end }}
      {{- if and .shard $v.sharding.enabled }}
      {{- /* Kubernetes sets JOB_COMPLETION_INDEX in each pod of an Indexed Job. */}}
      - name: ROLLCALL_SHARD_COUNT
        value: {{ $v.sharding.count | int | quote }}
      {{- end }}
      {{- if $v.secretFiles.enabled }}
      {{- range $v.secretFiles.env }}
      - name: {{ printf "%s_FILE" .name }}
        value: {{ printf "%s/%s" (trimSuffix "/" $v.secretFiles.mountPath) .key | quote }}
      {{- end }}
      {{- end }}
      {{- with $v.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    envFrom:
      - secretRef:
          name: {{ include "rollcall.secretName" $ }}
          {{- /*
          A Secret named explicitly or made by the chart must exist: the kubelet waits for it and
          the pod's events name it. The default name is optional, so a release whose credentials
          come from elsewhere (files, IRSA) still starts; a missing token then exits 2.
          */}}
          optional: {{ not (or $v.existingSecret $v.secret.create) }}
      {{- with $v.extraEnvFrom }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- with $v.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $v.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: config
        mountPath: {{ $v.configMountPath }}
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- if $v.secretFiles.enabled }}
      - name: secret-files
        mountPath: {{ $v.secretFiles.mountPath }}
        readOnly: true
      {{- end }}
      {{- if eq (include "rollcall.mountsVaultToken" $) "true" }}
      - name: vault-token
        mountPath: {{ dir $v.vault.auth.tokenPath }}
        readOnly: true
      {{- end }}
      {{- with $v.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "rollcall.configMapName" $ }}
      items:
        - key: {{ include "rollcall.configKey" $ }}
          path: {{ include "rollcall.configKey" $ }}
  - name: tmp
    {{- $tmp := dict }}
    {{- with $v.tmpVolume.medium }}{{ $_ := set $tmp "medium" . }}{{ end }}
    {{- with $v.tmpVolume.sizeLimit }}{{ $_ := set $tmp "sizeLimit" . }}{{ end }}
    emptyDir:
      {{- toYaml $tmp | nindent 6 }}
  {{- if $v.secretFiles.enabled }}
  - name: secret-files
    secret:
      secretName: {{ $v.secretFiles.secretName }}
      {{- /* Group-readable for fsGroup, nobody else. */}}
      defaultMode: 0440
      {{- with $v.secretFiles.env }}
      items:
        {{- range . }}
        - key: {{ .key }}
          path: {{ .key }}
        {{- end }}
      {{- end }}
  {{- end }}
  {{- if eq (include "rollcall.mountsVaultToken" $) "true" }}
  {{- /*
  The pod's service-account token for Vault's kubernetes or jwt login: bound to the audience the
  Vault role expects and short-lived, renewed by the kubelet. Not the Kubernetes API token, which
  stays unmounted.
  */}}
  - name: vault-token
    projected:
      defaultMode: 0440
      sources:
        - serviceAccountToken:
            audience: {{ $v.vault.auth.audience | quote }}
            expirationSeconds: {{ $v.vault.auth.expirationSeconds | int64 }}
            path: {{ base $v.vault.auth.tokenPath }}
  {{- end }}
  {{- with $v.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
