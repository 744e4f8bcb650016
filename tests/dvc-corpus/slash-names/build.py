print('build')
